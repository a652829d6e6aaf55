//===- LossScaler.h - dynamic loss scaling (fp16 training) ------*- C++ -*-===//
//
// torch.amp.GradScaler's scale and growth tracker, and its update
// (torch/amp/grad_scaler.py `update`, ATen's `_amp_update_scale_`): after a
// step whose gradients held an inf or NaN the scale is multiplied by the
// backoff factor and the tracker reset; after `growthInterval` steps in a
// row without, by the growth factor (kept only if it is finite), and the
// tracker reset. The scale is a float, as torch's scale tensor is.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_LOSSSCALER_H
#define PPRT_LOSSSCALER_H

#include <cmath>
#include <cstdint>

namespace pprt {

/// The name of the parameter that holds the loss scale in the stage
/// programs: the compiler (-pp-autodiff's loss-scale) multiplies the seed
/// of the backward by it, and the runtime writes it before every step.
constexpr char kLossScaleParam[] = "pp.loss_scale";

struct LossScaler {
  float scale = 65536.0f;
  int64_t growthTracker = 0;

  /// After a step: `foundInf` says whether any gradient was inf or NaN
  /// (the same on every rank).
  void update(bool foundInf, float growthFactor, float backoffFactor,
              int64_t growthInterval) {
    if (foundInf) {
      scale *= backoffFactor;
      growthTracker = 0;
      return;
    }
    int64_t successful = growthTracker + 1;
    if (successful == growthInterval) {
      float grown = scale * growthFactor;
      if (std::isfinite(grown))
        scale = grown;
      growthTracker = 0;
    } else {
      growthTracker = successful;
    }
  }
  /// What the gradients are multiplied by to unscale them: torch's
  /// scale.double().reciprocal().float().
  float inverse() const { return float(1.0 / double(scale)); }
};

} // namespace pprt

#endif // PPRT_LOSSSCALER_H
