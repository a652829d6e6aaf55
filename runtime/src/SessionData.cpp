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
    TensorDesc whole = wholeBatch(plan, in.desc);
    auto it = data.find(in.name);
    if (it == data.end()) {
      if (!o.data.empty())
        return invalidArgument("--data: nothing given for the model's input '" +
                               in.name + "': add --data " + in.name +
                               "=FILE.npy");
      // No data at all: one seeded random batch, for timing.
      uint64_t seed = data.size();
      data[in.name] = randomInput(in, plan.batchMicrobatches(), seed);
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
    if (got.shape.size() != whole.shape.size() ||
        !std::equal(got.shape.begin() + 1, got.shape.end(),
                    whole.shape.begin() + 1))
      return invalidArgument(file + ": samples of shape " + got.toString() +
                             ", the model takes " + whole.toString() +
                             " per batch (samples on axis 0)");
    if (got.shape[0] < d.batch)
      return invalidArgument(file + ": " + std::to_string(got.shape[0]) +
                             " samples, fewer than one batch of " +
                             std::to_string(d.batch));
    if (d.samples >= 0 && got.shape[0] != d.samples)
      return invalidArgument(file + ": " + std::to_string(got.shape[0]) +
                             " samples, --data " + firstName + " has " +
                             std::to_string(d.samples));
    d.samples = got.shape[0];
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
    int64_t n = all.desc.shape[0];
    int64_t row = all.bytes.size() / n;
    t.desc = all.desc;
    t.desc.shape[0] = batch;
    t.bytes.resize(batch * row);
    for (int64_t i = 0; i < batch; ++i)
      std::memcpy(t.bytes.data() + i * row,
                  all.bytes.data() + ((position + i) % n) * row, row);
  }
  return samples > 0 ? (position + batch) % samples : position;
}

} // namespace session
} // namespace pprt
