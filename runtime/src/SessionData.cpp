//===- SessionData.cpp - the training samples of --data -------------------===//
//
// One .npy array per model input, samples on axis 0, all with the same
// number of samples (at least one batch) and each sample of the model's
// per-sample shape and dtype. A step takes the plan's batch of samples
// from the current position on, wrapping at the end; the position is what
// a checkpoint records, so a resumed run takes the same samples next.
//
//===----------------------------------------------------------------------===//

#include "SessionInternal.h"

#include <algorithm>
#include <cstring>

namespace pprt {
namespace session {

StatusOr<TrainingData> TrainingData::load(const SessionOptions &o,
                                          const Plan &plan) {
  TrainingData d;
  d.batch = plan.batch;
  auto &data = d.arrays;
  for (auto &[name, path] : o.data) {
    auto t = readNpy(path);
    if (!t)
      return t.status().withContext("--data " + name + "=" + path);
    data[name] = std::move(*t);
  }
  std::string firstName;
  std::vector<Plan::Io> inputs = plan.modelInputs();
  for (const Plan::Io &in : inputs) {
    TensorDesc whole = wholeBatch(plan, in);
    auto it = data.find(in.name);
    if (it == data.end()) {
      if (!o.data.empty())
        return invalidArgument("--data: nothing given for the model's input '" +
                               in.name + "': add --data " + in.name +
                               "=FILE.npy");
      // No data at all: one seeded random batch, for timing.
      uint64_t seed = data.size();
      data[in.name] = randomInput(in, plan.batchMicrobatches(), seed);
      d.axes[in.name] = in.batchAxis;
      continue;
    }
    const TensorDesc &got = it->second.desc;
    std::string file = "--data " + in.name + "=" +
                       std::find_if(o.data.begin(), o.data.end(), [&](auto &x) {
                         return x.first == in.name;
                       })->second;
    if (got.dtype != in.desc.dtype)
      return invalidArgument(file + ": " + dtypeName(got.dtype) +
                             " samples, the model takes " +
                             dtypeName(in.desc.dtype));
    // Samples along the input's batch axis (axis 1 for a sequence-first
    // model); an input without one is the same for every batch.
    int axis = in.batchAxis;
    bool shapeOk = got.shape.size() == whole.shape.size();
    for (size_t i = 0; shapeOk && i < got.shape.size(); ++i)
      shapeOk = (int)i == axis || got.shape[i] == whole.shape[i];
    if (!shapeOk)
      return invalidArgument(
          file + ": samples of shape " + got.toString() + ", the model takes " +
          whole.toString() +
          (axis < 0 ? std::string(" (the same for every batch)")
                    : " per batch (samples on axis " + std::to_string(axis) +
                          ")"));
    d.axes[in.name] = axis;
    if (axis < 0)
      continue;
    if (got.shape[axis] < d.batch)
      return invalidArgument(file + ": " + std::to_string(got.shape[axis]) +
                             " samples, fewer than one batch of " +
                             std::to_string(d.batch));
    if (d.samples >= 0 && got.shape[axis] != d.samples)
      return invalidArgument(file + ": " + std::to_string(got.shape[axis]) +
                             " samples, --data " + firstName + " has " +
                             std::to_string(d.samples));
    d.samples = got.shape[axis];
    firstName = in.name;
  }
  for (auto &[name, path] : o.data)
    if (!std::count_if(inputs.begin(), inputs.end(),
                       [&](const Plan::Io &in) { return in.name == name; }))
      return invalidArgument("--data " + name + "=" + path +
                             ": the model has no input '" + name + "'");
  return d;
}

int64_t TrainingData::fill(BatchIO &io, int64_t position) const {
  for (auto &[name, all] : arrays) {
    HostTensor &t = io.inputs[name];
    auto axisIt = axes.find(name);
    int axis = axisIt == axes.end() ? 0 : axisIt->second;
    if (axis < 0) {
      t = all; // the same for every batch
      continue;
    }
    int64_t n = all.desc.shape[axis];
    size_t element = dtypeSize(all.desc.dtype);
    t.desc = all.desc;
    t.desc.shape[axis] = batch;
    t.bytes.resize(*t.desc.byteSize());
    int64_t slab = t.bytes.size() / batch; // one sample's bytes
    std::vector<uint8_t> sample(slab);
    for (int64_t i = 0; i < batch; ++i) {
      if (axis == 0) {
        std::memcpy(t.bytes.data() + i * slab,
                    all.bytes.data() + ((position + i) % n) * slab, slab);
        continue;
      }
      copyRows(all.desc.shape, element, axis, (position + i) % n, 1,
               all.bytes.data(), sample.data(), /*place=*/false);
      copyRows(t.desc.shape, element, axis, i, 1, sample.data(),
               t.bytes.data(), /*place=*/true);
    }
  }
  return samples > 0 ? (position + batch) % samples : position;
}

} // namespace session
} // namespace pprt
