//===- Timeline.cpp - DIR/timeline.svg and DIR/trace.json -----------------===//
//
// The simulated schedule drawn two ways: an SVG with one row per rank, and a
// Chrome trace (chrome://tracing, ui.perfetto.dev) with compute on one track
// per rank and transfers on another, the same form `pprun --trace` writes.
//
//===----------------------------------------------------------------------===//

#include "ppc/Emit/Emit.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

using namespace ppc;

namespace {
bool isCompute(sched::Op op) {
  return op == sched::Op::Fwd || op == sched::Op::Bwd ||
         op == sched::Op::BwdB || op == sched::Op::BwdW;
}

const char *colour(sched::Op op) {
  switch (op) {
  case sched::Op::Fwd: return "#4e79a7";
  case sched::Op::Bwd: return "#59a14f";
  case sched::Op::BwdB: return "#8cd17d";
  case sched::Op::BwdW: return "#f1ce63";
  default: return "#bab0ac";
  }
}

std::string label(const sched::Action &a) {
  const char *k = a.op == sched::Op::Fwd    ? "F"
                  : a.op == sched::Op::Bwd  ? "B"
                  : a.op == sched::Op::BwdB ? "b"
                  : a.op == sched::Op::BwdW ? "W"
                                            : "send";
  return std::string(k) + std::to_string(a.mb);
}
} // namespace

std::string ppc::timelineSvg(const PipelineSummary &s) {
  const double width = 1200, left = 70, row = 34, bar = 22;
  int ranks = s.run.busy.size();
  double step = s.run.stepTime > 0 ? s.run.stepTime : 1;
  double scale = (width - left - 10) / step;
  double height = 40 + ranks * row + 30;
  std::string out;
  llvm::raw_string_ostream os(out);
  os << llvm::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
                     "height=\"%.0f\" font-family=\"sans-serif\" "
                     "font-size=\"10\">\n",
                     width, height);
  os << "<text x=\"4\" y=\"16\" font-size=\"13\">" << s.schedule << ", "
     << s.ranks << " ranks";
  if (s.dataParallel > 1)
    os << " x " << s.dataParallel << " replicas";
  os << ", " << s.microbatches << " micro-batches: step "
     << llvm::format("%.4g", s.run.stepTime * 1e3) << " ms, bubble "
     << llvm::format("%.1f", 100 * s.run.bubble) << "%</text>\n";
  for (int r = 0; r < ranks; ++r)
    os << llvm::format("<text x=\"4\" y=\"%.0f\">rank %d</text>\n",
                       40 + r * row + bar * 0.7, r);
  for (const sched::Event &e : s.run.events) {
    double x = left + e.start * scale, w = std::max(0.5, (e.end - e.start) * scale);
    double y = 40 + e.rank * row;
    if (!isCompute(e.action.op)) {
      // Transfers: a thin line under the sender's row.
      os << llvm::format("<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                         "height=\"3\" fill=\"%s\"><title>%s</title></rect>\n",
                         x, y + bar + 2, w, colour(e.action.op),
                         sched::describe(e.action).c_str());
      continue;
    }
    os << llvm::format("<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                       "height=\"%.0f\" fill=\"%s\" stroke=\"white\" "
                       "stroke-width=\"0.5\"><title>%s</title></rect>\n",
                       x, y, w, bar, colour(e.action.op),
                       sched::describe(e.action).c_str());
    if (w > 18)
      os << llvm::format("<text x=\"%.2f\" y=\"%.1f\" fill=\"white\">%s</text>\n",
                         x + 2, y + bar * 0.65, label(e.action).c_str());
  }
  // After the actions: the gradient collective as a band under the row
  // (it overlaps the other ranks' work), the optimizer as a bar.
  for (const sched::TailEvent &t : s.run.tail) {
    double x = left + t.start * scale, w = std::max(0.5, (t.end - t.start) * scale);
    double y = 40 + t.rank * row;
    std::string name = sched::tailName(t.kind).str();
    bool update = t.kind == sched::TailEvent::Optimizer;
    os << llvm::format("<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                       "height=\"%.0f\" fill=\"%s\"><title>%s</title></rect>\n",
                       x, update ? y : y + bar - 6, w, update ? bar : 6.0,
                       update ? "#e15759" : "#b07aa1", name.c_str());
  }
  os << llvm::format("<text x=\"%.0f\" y=\"%.0f\">0</text>\n", left,
                     height - 8);
  os << llvm::format("<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">%.4g ms"
                     "</text>\n",
                     width - 10, height - 8, step * 1e3);
  os << "</svg>\n";
  return out;
}

/// One complete ("X") event of a rank's track (0 compute, 1 transfers), in
/// microseconds, with `args` when given.
static void traceEvent(llvm::json::OStream &j, llvm::StringRef name,
                       llvm::StringRef category, int rank, int track,
                       double start, double end,
                       llvm::function_ref<void()> args = nullptr) {
  j.object([&] {
    j.attribute("name", name);
    j.attribute("cat", category);
    j.attribute("ph", "X");
    j.attribute("pid", 0);
    j.attribute("tid", (int64_t)(rank * 2 + track));
    j.attribute("ts", start * 1e6);
    j.attribute("dur", (end - start) * 1e6);
    if (args)
      j.attributeObject("args", args);
  });
}

std::string ppc::chromeTrace(const PipelineSummary &s) {
  std::string out;
  llvm::raw_string_ostream os(out);
  llvm::json::OStream j(os);
  j.object([&] {
    j.attribute("displayTimeUnit", "ms");
    j.attributeArray("traceEvents", [&] {
      for (size_t r = 0; r < s.run.busy.size(); ++r)
        for (int track : {0, 1})
          j.object([&] {
            j.attribute("ph", "M");
            j.attribute("name", "thread_name");
            j.attribute("pid", 0);
            j.attribute("tid", (int64_t)(r * 2 + track));
            j.attributeObject("args", [&] {
              j.attribute("name", "rank " + std::to_string(r) +
                                      (track ? " transfers" : " compute"));
            });
          });
      for (const sched::Event &e : s.run.events) {
        bool compute = isCompute(e.action.op);
        traceEvent(j, sched::describe(e.action),
                   compute ? "compute" : "transfer", e.rank, compute ? 0 : 1,
                   e.start, e.end, [&] {
                     j.attribute("stage", e.action.stage);
                     j.attribute("mb", e.action.mb);
                   });
      }
      // The optimizer on the compute track; the gradient collectives over
      // the replicas on the transfer track.
      for (const sched::TailEvent &t : s.run.tail) {
        bool update = t.kind == sched::TailEvent::Optimizer;
        traceEvent(j, sched::tailName(t.kind),
                   update ? "compute" : "collective", t.rank, update ? 0 : 1,
                   t.start, t.end);
      }
    });
  });
  os << "\n";
  return out;
}
