//===- SessionReports.cpp - --trace and --profile files -------------------===//
//
// --trace: a Chrome trace of what every rank of this process did in the
// last batch, in the form of the compiler's predicted trace.json.
// --profile: the mean time of every op by ONNX node, the cost table that
// ppc -cost-table reads. Under MPI each process writes its own file,
// FILE.rank<r>.
//
//===----------------------------------------------------------------------===//

#include "SessionInternal.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace pprt {
namespace session {

namespace {
std::string traceJson(const std::vector<TraceEvent> &events,
                      const std::vector<std::pair<int, Executor::StashPeak>>
                          &peaks) {
  std::ostringstream os;
  os << "{\"displayTimeUnit\":\"ms\",";
  // Training: what each stage kept for its backward at most.
  if (!peaks.empty()) {
    os << "\"otherData\":{\"peak_activation_memory\":[";
    for (size_t i = 0; i < peaks.size(); ++i)
      os << (i ? "," : "") << "{\"rank\":" << peaks[i].first
         << ",\"stage\":" << peaks[i].second.stage
         << ",\"bytes\":" << peaks[i].second.bytes
         << ",\"microbatches\":" << peaks[i].second.microbatches << "}";
    os << "]},";
  }
  os << "\"traceEvents\":[";
  bool first = true;
  for (const TraceEvent &e : events) {
    bool compute = e.action.op == ActionOp::Fwd ||
                   e.action.op == ActionOp::Bwd ||
                   e.action.op == ActionOp::BwdB ||
                   e.action.op == ActionOp::BwdW;
    os << (first ? "" : ",") << "{\"name\":\"" << actionName(e.action.op)
       << " stage " << e.action.stage << " mb " << e.action.mb
       << "\",\"cat\":\"" << (compute ? "compute" : "transfer")
       << "\",\"ph\":\"X\",\"pid\":0,\"tid\":" << e.rank * 2 + !compute
       << ",\"ts\":" << e.start * 1e6 << ",\"dur\":" << (e.end - e.start) * 1e6
       << ",\"args\":{\"stage\":" << e.action.stage << ",\"mb\":" << e.action.mb
       << "}}";
    first = false;
  }
  os << "]}\n";
  return os.str();
}

/// FILE, or FILE.rank<r> for this process's file under MPI.
std::string perProcess(const Session::State &s, const std::string &file) {
  return s.underMpi() ? file + ".rank" + std::to_string(s.firstRank) : file;
}
} // namespace

Status writeTrace(const Session::State &s,
                  const std::vector<std::vector<TraceEvent>> &traces) {
  std::vector<TraceEvent> all;
  for (auto &t : traces)
    all.insert(all.end(), t.begin(), t.end());
  std::vector<std::pair<int, Executor::StashPeak>> peaks;
  for (int i = 0; i < s.count(); ++i)
    for (const Executor::StashPeak &p : s.executors[i]->stashPeaks())
      peaks.push_back({s.firstRank + i, p});
  std::string json = traceJson(all, peaks);
  return writeFileAtomically(perProcess(s, s.o.trace), json.data(),
                             json.size());
}

Status writeProfile(const Session::State &s) {
  std::map<std::string, std::pair<double, int64_t>> byKernel;
  // A node lowered to several instructions costs their sum per run; the
  // table holds forward times (ppc costs the forward graph).
  std::map<std::string, double> byNode;
  for (auto &e : s.executors)
    for (const auto &t : e->profile()) {
      if (!t.runs)
        continue;
      auto &k = byKernel[t.kernel];
      k.first += t.seconds;
      k.second += t.runs;
      if (!t.node.empty() && t.forward)
        byNode[t.node] += t.seconds / t.runs * 1e6;
    }
  std::ostringstream json;
  json << "{\"unit\": \"us\", \"ops\": {";
  bool first = true;
  for (const auto &[name, us] : byNode) {
    std::string node;
    for (char c : name)
      node += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
    json << (first ? "" : ", ") << "\"" << node << "\": " << us;
    first = false;
  }
  json << "}}\n";
  std::string text = json.str();
  PPRT_RETURN_IF_ERROR(writeFileAtomically(perProcess(s, s.o.profile),
                                           text.data(), text.size()));
  if (!s.o.err)
    return Status::ok();
  std::vector<std::pair<double, std::string>> sorted;
  double total = 0;
  for (auto &[k, v] : byKernel) {
    sorted.push_back({v.first, k});
    total += v.first;
  }
  std::sort(sorted.rbegin(), sorted.rend());
  std::fprintf(s.o.err, "pprun: time by kernel (all runs): %.1f ms in all\n",
               total * 1e3);
  for (size_t i = 0; i < sorted.size() && i < 10; ++i)
    std::fprintf(s.o.err, "  %-14s %9.1f ms %5.1f%%\n",
                 sorted[i].second.c_str(), sorted[i].first * 1e3,
                 100 * sorted[i].first / total);
  return Status::ok();
}

} // namespace session
} // namespace pprt
