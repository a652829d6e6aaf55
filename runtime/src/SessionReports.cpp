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
#include <cstring>
#include <fstream>
#include <thread>
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

/// `text` as a JSON string's contents.
std::string jsonEscaped(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if ((unsigned char)c >= 0x20)
      out += c;
  }
  return out;
}

/// Mean microseconds per run of every forward op of this process's ranks,
/// by ONNX node: a node lowered to several instructions costs their sum
/// per run; the table holds forward times (ppc costs the forward graph).
std::map<std::string, double> forwardNodeTimes(const Session::State &s) {
  std::map<std::string, double> byNode;
  for (auto &e : s.executors)
    for (const auto &t : e->profile())
      if (t.runs && !t.node.empty() && t.forward)
        byNode[t.node] += t.seconds / t.runs * 1e6;
  return byNode;
}

/// The "ops" object of a cost table.
std::string opsJson(const std::map<std::string, double> &byNode) {
  std::ostringstream json;
  json << "{";
  bool first = true;
  for (const auto &[name, us] : byNode) {
    json << (first ? "" : ", ") << "\"" << jsonEscaped(name) << "\": " << us;
    first = false;
  }
  json << "}";
  return json.str();
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
  for (auto &e : s.executors)
    for (const auto &t : e->profile()) {
      if (!t.runs)
        continue;
      auto &k = byKernel[t.kernel];
      k.first += t.seconds;
      k.second += t.runs;
    }
  std::string text =
      "{\"unit\": \"us\", \"ops\": " + opsJson(forwardNodeTimes(s)) + "}\n";
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

namespace {
/// One-way seconds of messages of each of `sizes` bytes between world
/// ranks 0 and 1, as the run's messages go: the sender copies the tensors
/// into the message, the receiver copies them out. `side` is 0 or 1, `t`
/// that rank's transport.
StatusOr<std::vector<double>> pingPong(Transport &t, int side,
                                       const std::vector<size_t> &sizes) {
  std::vector<double> oneWay;
  int peer = 1 - side;
  for (size_t bytes : sizes) {
    std::vector<uint8_t> tensor(bytes, 1), into(bytes);
    int reps = bytes <= (1 << 16) ? 50 : 10, warm = 3;
    double start = 0;
    for (int r = 0; r < warm + reps; ++r) {
      if (r == warm)
        start = seconds();
      for (int turn = 0; turn < 2; ++turn) {
        if (turn == side) {
          PPRT_RETURN_IF_ERROR(
              t.send(peer, std::vector<uint8_t>(tensor.begin(), tensor.end())));
        } else {
          auto m = t.recv(peer);
          if (!m)
            return m.status();
          if (m->size() != bytes)
            return internalError("calibration: a message of " +
                                 std::to_string(m->size()) + " bytes where " +
                                 std::to_string(bytes) + " were sent");
          std::memcpy(into.data(), m->data(), bytes);
        }
      }
    }
    oneWay.push_back((seconds() - start) / (2.0 * reps));
  }
  return oneWay;
}

/// The least-squares line time = latency + bytes / bandwidth.
std::pair<double, double> fitLink(const std::vector<size_t> &sizes,
                                  const std::vector<double> &times) {
  double n = sizes.size(), sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    double x = sizes[i], y = times[i];
    sx += x, sy += y, sxx += x * x, sxy += x * y;
  }
  double slope = (n * sxy - sx * sy) / (n * sxx - sx * sx);
  double latency = (sy - slope * sx) / n;
  if (!(slope > 0))
    slope = times.back() / sizes.back();
  // The smallest message's time bounds the latency from below.
  latency = std::max(latency, 0.5 * times.front());
  return {latency, 1.0 / slope};
}

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos)
        return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}
} // namespace

Status writeCalibration(Session::State &s) {
  std::map<std::string, double> ops = forwardNodeTimes(s);
  const std::vector<size_t> sizes = {64, 4096, 65536, 1 << 20, 4 << 20};
  std::vector<double> oneWay;
  int world = s.underMpi() ? s.mpi->size() : s.count();
  if (world >= 2) {
    if (!s.underMpi()) {
      std::vector<StatusOr<std::vector<double>>> got(2, std::vector<double>());
      std::thread peer(
          [&] { got[1] = pingPong(*s.transports[1], 1, sizes); });
      got[0] = pingPong(*s.transports[0], 0, sizes);
      peer.join();
      for (auto &g : got)
        if (!g)
          return g.status();
      oneWay = *got[0];
    } else if (s.firstRank < 2) {
      auto got = pingPong(*s.mpi, s.firstRank, sizes);
      if (!got)
        return got.status();
      oneWay = *got;
    }
  }
  if (s.underMpi() && s.firstRank != 0) {
    // Every process's ops to world rank 0, which writes the file.
    std::string text;
    for (const auto &[name, us] : ops)
      text += name + '\t' + std::to_string(us) + '\n';
    return s.mpi->send(0, std::vector<uint8_t>(text.begin(), text.end()));
  }
  if (s.underMpi())
    for (int from = 1; from < world; ++from) {
      auto m = s.mpi->recv(from);
      if (!m)
        return m.status();
      std::istringstream in(std::string(m->begin(), m->end()));
      std::string line;
      while (std::getline(in, line)) {
        size_t tab = line.rfind('\t');
        if (tab != std::string::npos)
          ops[line.substr(0, tab)] += std::atof(line.c_str() + tab + 1);
      }
    }
  bool cpu = s.o.backend == "cpu";
  int ranksHere = s.underMpi() ? 1 : s.count();
  std::ostringstream json;
  json.precision(6);
  json << "{\"name\": \""
       << jsonEscaped(cpu ? "calibrated: " + cpuModel() + ", " +
                                std::to_string(s.threadBudget) +
                                " threads, " + s.transport + " transport"
                          : "calibrated: " + s.o.backend + ", " + s.transport +
                                " transport")
       << "\",\n \"base\": \"" << (cpu ? "cpu" : "h100") << "\",\n";
  if (cpu)
    json << " \"cores\": " << s.threadBudget << ",\n";
  if (!oneWay.empty()) {
    auto [latency, bandwidth] = fitLink(sizes, oneWay);
    json << " \"link_latency\": " << latency << ",\n \"link_bandwidth\": "
         << bandwidth << ",\n \"link_measured\": {";
    for (size_t i = 0; i < sizes.size(); ++i)
      json << (i ? ", " : "") << "\"" << sizes[i] << "\": " << oneWay[i];
    json << "},\n";
  }
  json << " \"ranks_per_process\": " << ranksHere
       << ",\n \"unit\": \"us\",\n \"ops\": " << opsJson(ops) << "}\n";
  std::string text = json.str();
  return writeFileAtomically(s.o.calibrate, text.data(), text.size());
}

} // namespace session
} // namespace pprt
