//===- Report.cpp - DIR/report.txt and DIR/report.json --------------------===//

#include "ppc/Emit/Emit.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <set>

using namespace ppc;

namespace {
std::string bytes(double b) { return formatBytes(b); }

std::string seconds(double t) {
  char buf[32];
  if (t >= 1)
    snprintf(buf, sizeof buf, "%.3g s", t);
  else if (t >= 1e-3)
    snprintf(buf, sizeof buf, "%.3g ms", t * 1e3);
  else if (t >= 1e-6 || t == 0)
    snprintf(buf, sizeof buf, "%.3g us", t * 1e6);
  else
    snprintf(buf, sizeof buf, "%.3g ns", t * 1e9);
  return buf;
}
} // namespace

std::string ppc::reportText(const PipelineSummary &s) {
  std::string out;
  llvm::raw_string_ostream os(out);
  os << "ppc pipeline report: " << s.model << "\n"
     << "  device " << s.device << ", " << s.ranks << " ranks x "
     << s.virtualStages << " virtual stages, schedule " << s.schedule
     << ", batch " << s.batch << " = ";
  if (s.dataParallel > 1)
    os << s.dataParallel << " replicas x ";
  os << s.microbatches << " micro-batches of " << s.microbatchSize()
     << ", partition " << s.method << "\n";
  if (s.dataParallel > 1)
    os << "  data parallel " << s.dataParallel << ": " << s.ranks << " x "
       << s.dataParallel << " = " << s.ranks * s.dataParallel
       << " devices, world rank = pipeline rank x " << s.dataParallel
       << " + replica" << (s.zero ? ", ZeRO-1" : "") << "\n";
  os << "\n";
  os << llvm::format("%-6s %-5s %6s %10s %10s %11s %11s %11s %8s\n", "stage",
                     "rank", "ops", "params", "GFLOP", "fwd time",
                     "activations", "memory", "in-flight");
  for (auto [i, f] : llvm::enumerate(s.stages))
    os << llvm::format("%-6d %-5d %6d %10s %10.4g %11s %11s %11s %8d\n", (int)i,
                       s.pipeline.topology.stageRank[i], f.ops,
                       bytes(f.paramBytes).c_str(), f.flops / 1e9,
                       seconds(f.time).c_str(),
                       bytes(f.activationBytes).c_str(),
                       bytes(f.memory).c_str(), s.run.peakInflight[i]);
  os << "\n  predicted step " << seconds(s.run.stepTime) << ", bubble "
     << llvm::format("%.1f%%", 100 * s.run.bubble) << "; per-rank utilisation";
  for (double b : s.run.busy)
    os << llvm::format(" %.0f%%", 100 * b / s.run.stepTime);
  os << "\n  peak in-flight activations per rank:";
  for (int64_t b : s.run.peakStashBytes)
    os << " " << bytes(b);
  os << "\n  messages per micro-batch:";
  for (auto &[key, b] : s.pipeline.messages)
    os << " " << key.first << "->" << key.second << " " << bytes(b)
       << (key.second != key.first + 1 ? " (skip)" : "");
  os << "\n\n";
  if (s.training && s.rankStates.size() == s.run.busy.size()) {
    // What each rank holds for its parameters, and its step after its last
    // backward: the gradient all-reduce over the replicas, the update.
    os << "training state and gradient all-reduce per rank";
    if (s.dataParallel > 1)
      os << " (the same on each of its " << s.dataParallel
         << " replicas; all-reduce: ring over them)";
    if (s.zero)
      os << "; optimizer state per rank with ZeRO-1: 1/" << s.dataParallel;
    os << ":\n";
    os << llvm::format("  %-5s %10s %10s %16s %11s %10s %16s %11s %11s\n",
                       "rank", "params", "gradients", "optimizer state",
                       "activations", "memory", "without ZeRO-1",
                       "all-reduce", "optimizer");
    for (auto [r, st] : llvm::enumerate(s.rankStates))
      os << llvm::format("  %-5d %10s %10s %16s %11s %10s %16s %11s %11s\n",
                         (int)r, bytes(st.params).c_str(),
                         bytes(st.gradients).c_str(),
                         bytes(st.optimizer).c_str(),
                         bytes(st.activations).c_str(),
                         bytes(st.total()).c_str(),
                         bytes(st.totalUnsharded()).c_str(),
                         seconds(st.allReduce).c_str(),
                         seconds(st.update).c_str());
    os << "\n";
  }
  if (!s.candidates.empty()) {
    // -devices=N: each split and schedule, as simulated before compiling.
    os << "devices " << s.devices
       << ": every stages x data-parallel split and schedule, partition "
       << s.candidates.front().alternative.method << ":\n";
    os << llvm::format("  %6s %9s %14s %-17s %10s %12s %14s %11s  %s\n",
                       "stages", "replicas", "micro-batches", "schedule",
                       "step", "memory/rank", "without ZeRO-1", "all-reduce",
                       "fits");
    for (const auto &c : s.candidates) {
      const Alternative &alt = c.alternative;
      const Evaluation &e = alt.evaluation;
      std::string mbs = std::to_string(c.microbatches) + " x " +
                        (c.microbatchSize ? std::to_string(c.microbatchSize)
                                          : std::string("?"));
      bool simulated = e.stepTime > 0;
      os << llvm::format(
          "  %6d %9d %14s %-17s %10s %12s %14s %11s  ", c.stages,
          c.dataParallel, mbs.c_str(), alt.schedule.c_str(),
          simulated ? seconds(e.stepTime).c_str() : "-",
          simulated ? bytes(e.peakMemory).c_str() : "-",
          simulated ? bytes(e.peakMemoryUnsharded).c_str() : "-",
          simulated ? seconds(e.allReduce).c_str() : "-");
      os << (alt.error.empty() ? "yes" : "no: " + alt.error)
         << (alt.chosen ? "  <- chosen" : "") << "\n";
    }
    os << "\n";
  }
  if (!s.alternatives.empty()) {
    os << "partition methods and schedules compared:\n";
    os << llvm::format("  %-24s %-17s %12s %12s %12s %8s %11s %11s\n", "method",
                       "schedule", "step", "slowest", "total/K", "bubble",
                       "peak memory", "crossing");
    for (const auto &alt : s.alternatives) {
      const Evaluation &e = alt.evaluation;
      if (!alt.error.empty()) {
        os << llvm::format("  %-24s %-17s ", alt.method.c_str(),
                           alt.schedule.c_str())
           << alt.error << "\n";
        continue;
      }
      os << llvm::format(
          "  %-24s %-17s %12s %12s %12s %7.1f%% %11s %11s%s\n",
          alt.method.c_str(), alt.schedule.c_str(),
          seconds(e.stepTime).c_str(), seconds(e.slowestStage()).c_str(),
          seconds(e.totalStageTime() / e.stages.size()).c_str(),
          100 * e.bubble, bytes(e.peakMemory).c_str(),
          bytes(e.crossingBytes).c_str(), alt.chosen ? "  <- chosen" : "");
    }
    // -schedule=auto: the best few of the chosen method side by side.
    std::set<std::string> schedules;
    for (const auto &alt : s.alternatives)
      schedules.insert(alt.schedule);
    ChoiceExplanation choice = explainChoice(s.alternatives);
    if (schedules.size() > 1 && !choice.ranked.empty()) {
      size_t shown = std::min<size_t>(choice.ranked.size(), 5);
      os << "\nschedule=auto: the best " << shown << " of "
         << choice.ranked.size() << " simulated ("
         << s.alternatives[choice.ranked.front()].method
         << " partition), fastest that fits first:\n";
      os << llvm::format("  %-18s %12s %8s %12s %12s  %s\n", "schedule",
                         "step", "bubble", "peak memory", "sent/mb", "fits");
      for (size_t i = 0; i < shown; ++i) {
        const Alternative &alt = s.alternatives[choice.ranked[i]];
        const Evaluation &e = alt.evaluation;
        os << llvm::format("  %-18s %12s %7.1f%% %12s %12s  ",
                           alt.schedule.c_str(), seconds(e.stepTime).c_str(),
                           100 * e.bubble, bytes(e.peakMemory).c_str(),
                           bytes(e.crossingBytes).c_str())
           << (alt.error.empty() ? "yes" : "no: " + alt.error)
           << (alt.chosen ? "  <- chosen" : "") << "\n";
      }
      os << "  why: " << choice.why << "\n";
    }
  }
  return out;
}

/// The figures of one stage, as every stage list of report.json has them.
static void stageJson(llvm::json::OStream &j, const Evaluation::Stage &st) {
  j.attribute("rank", st.rank);
  j.attribute("ops", st.ops);
  j.attribute("param_bytes", st.paramBytes);
  j.attribute("flops", st.flops);
  j.attribute("time", st.time);
  j.attribute("activation_bytes", st.activationBytes);
  j.attribute("memory", st.memory);
}

/// The fullest device (with and without ZeRO-1) and the slowest gradient
/// all-reduce of an evaluation: what a -devices candidate and a partition
/// alternative both report.
static void peakJson(llvm::json::OStream &j, const Evaluation &e) {
  j.attribute("peak_memory", e.peakMemory);
  j.attribute("peak_memory_without_zero", e.peakMemoryUnsharded);
  j.attribute("all_reduce_time", e.allReduce);
}

std::string ppc::reportJson(const PipelineSummary &s) {
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::json::OStream j(os, 2);
  j.object([&] {
    j.attribute("model", s.model);
    j.attribute("device", s.device);
    j.attribute("schedule", s.schedule);
    j.attribute("partition", s.method);
    j.attribute("ranks", s.ranks);
    j.attribute("virtual_stages", s.virtualStages);
    j.attribute("batch", s.batch);
    j.attribute("microbatches", s.microbatches);
    j.attribute("data_parallel", s.dataParallel);
    j.attribute("zero", s.zero);
    j.attribute("step_time", s.run.stepTime);
    j.attribute("bubble", s.run.bubble);
    j.attributeArray("stages", [&] {
      for (auto [i, f] : llvm::enumerate(s.stages))
        j.object([&] {
          j.attribute("stage", (int64_t)i);
          stageJson(j, f);
          j.attribute("peak_inflight", s.run.peakInflight[i]);
        });
    });
    j.attributeArray("ranks", [&] {
      for (size_t r = 0; r < s.run.busy.size(); ++r)
        j.object([&] {
          j.attribute("rank", (int64_t)r);
          j.attribute("utilisation", s.run.busy[r] / s.run.stepTime);
          j.attribute("peak_activation_bytes", s.run.peakStashBytes[r]);
          if (r < s.rankStates.size() && s.training) {
            const RankState &st = s.rankStates[r];
            j.attribute("param_bytes", st.params);
            j.attribute("gradient_bytes", st.gradients);
            j.attribute("optimizer_bytes", st.optimizer);
            j.attribute("optimizer_bytes_without_zero", st.optimizerUnsharded);
            j.attribute("memory", st.total());
            j.attribute("memory_without_zero", st.totalUnsharded());
            j.attribute("all_reduce_time", st.allReduce);
            j.attribute("optimizer_time", st.update);
            if (r < s.run.gradsReady.size())
              j.attribute("gradients_ready", s.run.gradsReady[r]);
          }
        });
    });
    if (!s.candidates.empty()) {
      j.attribute("devices", s.devices);
      j.attributeArray("device_candidates", [&] {
        for (const auto &c : s.candidates)
          j.object([&] {
            const Alternative &alt = c.alternative;
            j.attribute("stages", c.stages);
            j.attribute("data_parallel", c.dataParallel);
            j.attribute("microbatches", c.microbatches);
            j.attribute("microbatch_size", c.microbatchSize);
            j.attribute("schedule", alt.schedule);
            j.attribute("partition", alt.method);
            j.attribute("chosen", alt.chosen);
            j.attribute("fits", alt.error.empty());
            if (!alt.error.empty())
              j.attribute("error", alt.error);
            if (alt.evaluation.stepTime > 0) {
              j.attribute("step_time", alt.evaluation.stepTime);
              peakJson(j, alt.evaluation);
            }
          });
      });
    }
    j.attributeArray("alternatives", [&] {
      for (const auto &alt : s.alternatives)
        j.object([&] {
          j.attribute("method", alt.method);
          j.attribute("schedule", alt.schedule);
          j.attribute("chosen", alt.chosen);
          if (!alt.error.empty()) {
            j.attribute("error", alt.error);
            return;
          }
          const Evaluation &e = alt.evaluation;
          j.attribute("step_time", e.stepTime);
          j.attribute("bubble", e.bubble);
          j.attribute("slowest_stage", e.slowestStage());
          j.attribute("total_stage_time", e.totalStageTime());
          peakJson(j, e);
          j.attribute("crossing_bytes", e.crossingBytes);
          j.attribute("skip_messages", e.skipMessages);
          j.attributeArray("stages", [&] {
            for (const auto &st : e.stages)
              j.object([&] { stageJson(j, st); });
          });
        });
    });
    ChoiceExplanation choice = explainChoice(s.alternatives);
    if (!choice.why.empty())
      j.attribute("choice", choice.why);
  });
  os << "\n";
  return out;
}
