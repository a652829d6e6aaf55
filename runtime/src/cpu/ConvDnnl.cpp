//===- ConvDnnl.cpp - fp32 convolution through oneDNN ---------------------===//
//
// oneDNN's direct convolution (JIT-compiled for the CPU it runs on: AVX-512,
// AVX2, ...) on blocked layouts. Activations stay NCHW between
// instructions, so each call reorders its input into the layout the
// primitive picked and its output back; weights are reordered once per
// parameter and kept (a weight computed at run time is reordered on every
// call). The primitive and the reordered weights live in the instruction's
// state, so each rank has its own and nothing is shared between ranks.
//
// Results do not depend on the batch size or the run: oneDNN's forward
// convolution splits work over images, output channels and rows, never
// over the reduction.
//
//===----------------------------------------------------------------------===//

#include "Kernels.h"

#ifdef PPRT_HAVE_DNNL

#include <oneapi/dnnl/dnnl.hpp>

#include <memory>

namespace pprt {
namespace cpu {
namespace {

using dnnl::memory;

struct ConvPrimitive {
  std::vector<int64_t> key; // shapes and geometry it was built for
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  memory::desc srcUser, dstUser, wUser;
  bool reorderSrc, reorderDst, reorderW;
  dnnl::reorder srcIn, dstOut, wIn;
  memory srcScratch, dstScratch;
  // A parameter's weights, reordered, and the version they were taken at.
  memory weights;
  const void *weightsOf = nullptr;
  uint64_t weightsVersion = 0;
};

dnnl::engine &engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

memory::dims dims(const std::vector<int64_t> &v) { return {v.begin(), v.end()}; }

memory::format_tag plainTag(size_t rank, bool grouped) {
  using tag = memory::format_tag;
  if (grouped)
    return rank == 4 ? tag::goiw : rank == 5 ? tag::goihw : tag::goidhw;
  return rank == 3 ? tag::ncw : rank == 4 ? tag::nchw : tag::ncdhw;
}
} // namespace

Status convDnnl(Tensors &in, Tensors &out, const Window &win, int64_t group,
                std::shared_ptr<void> &state) {
  const TensorRef &X = *in[0], &W = *in[1];
  TensorRef &Y = *out[0];
  const TensorRef *B = in.size() > 2 ? in[2] : nullptr;
  size_t rank = X.desc.shape.size();

  // The primitive depends on shapes and geometry only.
  std::vector<int64_t> key = X.desc.shape;
  key.insert(key.end(), W.desc.shape.begin(), W.desc.shape.end());
  key.insert(key.end(), win.strides.begin(), win.strides.end());
  key.insert(key.end(), win.pads.begin(), win.pads.end());
  key.insert(key.end(), win.dilations.begin(), win.dilations.end());
  key.push_back(group);
  key.push_back(B != nullptr);
  dnnl::stream stream(engine());
  try {
    auto slot = std::static_pointer_cast<ConvPrimitive>(state);
    if (!slot || slot->key != key) {
      auto p = std::make_shared<ConvPrimitive>();
      p->key = key;
      memory::dims wDims = dims(W.desc.shape);
      bool grouped = group > 1;
      if (grouped) {
        wDims[0] /= group;
        wDims.insert(wDims.begin(), group);
      }
      p->srcUser = memory::desc(dims(X.desc.shape), memory::data_type::f32,
                                plainTag(rank, false));
      p->dstUser = memory::desc(dims(Y.desc.shape), memory::data_type::f32,
                                plainTag(rank, false));
      p->wUser = memory::desc(wDims, memory::data_type::f32,
                              plainTag(wDims.size(), grouped));
      auto any = [](const memory::dims &d) {
        return memory::desc(d, memory::data_type::f32, memory::format_tag::any);
      };
      memory::dims strides, dilates, padL, padR;
      for (int d = 0; d < win.spatial; ++d) {
        strides.push_back(win.strides[d]);
        dilates.push_back(win.dilations[d] - 1); // oneDNN counts the gaps
        padL.push_back(win.pads[d]);
        padR.push_back(win.pads[d + win.spatial]);
      }
      memory::desc biasMd =
          B ? memory::desc({Y.desc.shape[1]}, memory::data_type::f32,
                           memory::format_tag::x)
            : memory::desc();
      dnnl::convolution_forward::desc desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
          any(dims(X.desc.shape)), any(wDims), biasMd, any(dims(Y.desc.shape)),
          strides, dilates, padL, padR);
      p->pd = dnnl::convolution_forward::primitive_desc(desc, engine());
      p->prim = dnnl::convolution_forward(p->pd);
      p->reorderSrc = p->pd.src_desc() != p->srcUser;
      p->reorderDst = p->pd.dst_desc() != p->dstUser;
      p->reorderW = p->pd.weights_desc() != p->wUser;
      if (p->reorderSrc) {
        p->srcScratch = memory(p->pd.src_desc(), engine());
        p->srcIn = dnnl::reorder(memory(p->srcUser, engine(), nullptr),
                                 p->srcScratch);
      }
      if (p->reorderDst) {
        p->dstScratch = memory(p->pd.dst_desc(), engine());
        p->dstOut = dnnl::reorder(p->dstScratch,
                                  memory(p->dstUser, engine(), nullptr));
      }
      if (p->reorderW)
        p->wIn = dnnl::reorder(memory(p->wUser, engine(), nullptr),
                               memory(p->pd.weights_desc(), engine(), nullptr));
      state = slot = std::move(p);
    }
    ConvPrimitive &p = *slot;

    memory src(p.srcUser, engine(), X.data), dst(p.dstUser, engine(), Y.data);
    memory wUser(p.wUser, engine(), W.data);
    memory wMem = wUser;
    if (p.reorderW) {
      // A parameter keeps its reordered copy until it is written again.
      bool fresh = W.constant && p.weights && p.weightsOf == W.data &&
                   p.weightsVersion == W.version;
      if (!fresh) {
        if (!p.weights)
          p.weights = memory(p.pd.weights_desc(), engine());
        p.wIn.execute(stream, {{DNNL_ARG_FROM, wUser}, {DNNL_ARG_TO, p.weights}});
        p.weightsOf = W.data;
        p.weightsVersion = W.version;
      }
      wMem = p.weights;
    }
    std::unordered_map<int, memory> args;
    if (p.reorderSrc) {
      p.srcIn.execute(stream, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, p.srcScratch}});
      args[DNNL_ARG_SRC] = p.srcScratch;
    } else {
      args[DNNL_ARG_SRC] = src;
    }
    args[DNNL_ARG_WEIGHTS] = wMem;
    if (B)
      args[DNNL_ARG_BIAS] =
          memory(memory::desc({Y.desc.shape[1]}, memory::data_type::f32,
                              memory::format_tag::x),
                 engine(), B->data);
    args[DNNL_ARG_DST] = p.reorderDst ? p.dstScratch : dst;
    p.prim.execute(stream, args);
    if (p.reorderDst)
      p.dstOut.execute(stream, {{DNNL_ARG_FROM, p.dstScratch}, {DNNL_ARG_TO, dst}});
    stream.wait();
  } catch (const dnnl::error &e) {
    return internalError(std::string("oneDNN convolution: ") + e.what());
  }
  return Status::ok();
}

bool haveDnnl() { return true; }

} // namespace cpu
} // namespace pprt

#else

namespace pprt {
namespace cpu {
Status convDnnl(Tensors &, Tensors &, const Window &, int64_t,
                std::shared_ptr<void> &) {
  return internalError("this runtime was built without oneDNN");
}
bool haveDnnl() { return false; }
} // namespace cpu
} // namespace pprt

#endif
