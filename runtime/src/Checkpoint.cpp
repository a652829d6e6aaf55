//===- Checkpoint.cpp - checkpoint.json, and crash-safe naming -----------===//
//
// checkpoint.json is written (checkpointJson) and read (findCheckpoint)
// here alone.
//
// The states a kill can leave, in order, and what `latest` names in each:
//   staging being written             the previous checkpoint
//   step-N renamed (or exchanged) in  the previous one, or step-N (new)
//   latest rewritten (a rename)       step-N
//   the old step-N's files removed    step-N
// Without RENAME_EXCHANGE (NFS), resaving step-N first keeps a copy of the
// old step-N as hard links in .step-N.old and points latest there while
// step-N is replaced.
//
//===----------------------------------------------------------------------===//

#include "pprt/Checkpoint.h"

#include "pprt/Files.h"
#include "pprt/Paths.h"
#include "pprt/Plan.h"

#include "Json.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <limits>
#include <sys/stat.h>
#include <unistd.h>

namespace pprt {
namespace {

Status ioError(const std::string &what) {
  return internalError(what + ": " + std::strerror(errno));
}

/// Makes a folder's entries (a rename into it) durable.
Status syncDir(const std::string &dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return ioError(dir);
  bool ok = ::fsync(fd) == 0;
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok ? Status::ok() : ioError(dir + ": fsync");
}

bool exists(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Status removeAll(const std::string &path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec)
    return internalError(path + ": cannot remove it: " + ec.message());
  return Status::ok();
}

Status renamePath(const std::string &from, const std::string &to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    return ioError("cannot rename " + from + " to " + to);
  return Status::ok();
}

/// What ROOT/latest names, or "" without one.
std::string readLatest(const std::string &root) {
  std::FILE *f = std::fopen((root + "/latest").c_str(), "rb");
  if (!f)
    return "";
  char buf[256];
  size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  std::string s(buf, n);
  while (!s.empty() && std::isspace((unsigned char)s.back()))
    s.pop_back();
  return s;
}

Status writeLatest(const std::string &root, const std::string &name) {
  std::string text = name + "\n";
  PPRT_RETURN_IF_ERROR(
      writeFileAtomically(root + "/latest", text.data(), text.size()));
  return syncDir(root);
}

/// `to`, a new folder holding hard links to the files of `from`.
Status linkCopy(const std::string &from, const std::string &to) {
  if (::mkdir(to.c_str(), 0777) != 0)
    return ioError(to);
  DIR *d = ::opendir(from.c_str());
  if (!d)
    return ioError(from);
  Status st = Status::ok();
  while (dirent *e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..")
      continue;
    if (::link((from + "/" + name).c_str(), (to + "/" + name).c_str()) != 0) {
      st = ioError("cannot link " + from + "/" + name + " into " + to);
      break;
    }
  }
  ::closedir(d);
  PPRT_RETURN_IF_ERROR(st);
  return syncDir(to);
}

} // namespace

std::string checkpointJson(const Checkpoint &c) {
  // One line, keys in this order: what pprun has always written, then the
  // loss scaler's state where there is one.
  std::string scaler;
  if (c.lossScale > 0) {
    char scale[64];
    std::snprintf(scale, sizeof scale, "%.9g", c.lossScale);
    scaler = ", \"optimizer_steps\": " + std::to_string(c.optimizerSteps) +
             ", \"loss_scale\": " + scale + ", \"growth_tracker\": " +
             std::to_string(c.growthTracker);
  }
  return "{\"step\": " + std::to_string(c.step) +
         ", \"data_position\": " + std::to_string(c.position) +
         ", \"schedule\": " + nlohmann::json(c.schedule).dump(
             -1, ' ', false, nlohmann::json::error_handler_t::replace) +
         ", \"stages\": " + std::to_string(c.stages) + scaler + "}\n";
}

StatusOr<Checkpoint> findCheckpoint(const std::string &path,
                                    const std::string &flag) {
  auto readText = [](const std::string &file, std::string &out) {
    auto f = MappedFile::open(file);
    if (!f)
      return false;
    out.assign(reinterpret_cast<const char *>((*f)->data()), (*f)->size());
    return true;
  };
  std::string dir = path, text;
  if (!readText(dir + "/checkpoint.json", text)) {
    std::string latest;
    if (!readText(path + "/latest", latest))
      return notFound(flag + path + ": no checkpoint there (neither "
                      "checkpoint.json nor latest)");
    while (!latest.empty() && std::isspace((unsigned char)latest.back()))
      latest.pop_back();
    // latest is a file like any other: it may only name a folder beside it.
    StatusOr<std::string> named =
        resolveInside(path, latest, flag + path + "/latest");
    if (!named)
      return named.status();
    dir = *named;
    if (!readText(dir + "/checkpoint.json", text))
      return notFound(flag + path + ": latest names " + latest +
                      ", which has no checkpoint.json");
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("step"))
    return dataLoss(dir + "/checkpoint.json: not a checkpoint description");
  JsonReader reader(dir + "/checkpoint.json");
  const int64_t most = std::numeric_limits<int64_t>::max();
  Checkpoint c;
  c.dir = dir;
  c.step = reader.integer(j, "step", 0, 0, most, "the checkpoint", true);
  c.position = reader.integer(j, "data_position", 0, 0, most, "the checkpoint");
  c.schedule = reader.string(j, "schedule", "", "the checkpoint");
  c.stages = reader.integer(j, "stages", 0, 0, kMaxStages, "the checkpoint");
  c.optimizerSteps = reader.integer(j, "optimizer_steps", c.step, 0, c.step,
                                    "the checkpoint");
  c.lossScale = reader.number(j, "loss_scale", 0.0, "the checkpoint");
  c.growthTracker = reader.integer(j, "growth_tracker", 0, 0, most,
                                   "the checkpoint");
  if (reader.ok() && !(c.lossScale >= 0 && c.lossScale <= 3.4e38))
    return dataLoss(dir + "/checkpoint.json: 'loss_scale' must be in [0, "
                    "3.4e38]");
  if (!reader.ok())
    return reader.status();
  return c;
}

std::string checkpointStaging(const std::string &root, int64_t step) {
  return root + "/.step-" + std::to_string(step) + ".tmp";
}

Status prepareCheckpoint(const std::string &root, int64_t step) {
  std::string staging = checkpointStaging(root, step);
  PPRT_RETURN_IF_ERROR(removeAll(staging));
  std::error_code ec;
  std::filesystem::create_directories(staging, ec);
  if (ec)
    return internalError(root + ": cannot create " + staging + ": " +
                         ec.message());
  return Status::ok();
}

Status commitCheckpoint(const std::string &root, int64_t step,
                        const std::string &meta, const CommitHooks &hooks) {
  std::string name = "step-" + std::to_string(step);
  std::string final = root + "/" + name;
  std::string staging = checkpointStaging(root, step);
  int at = 0;
  auto point = [&] {
    if (hooks.beforeRename)
      hooks.beforeRename(at);
    ++at;
  };
  point();
  PPRT_RETURN_IF_ERROR(writeFileAtomically(staging + "/checkpoint.json",
                                           meta.data(), meta.size()));
  PPRT_RETURN_IF_ERROR(syncDir(staging));
  point();
  std::string backupName = "." + name + ".old", backup = root + "/" + backupName;
  if (!exists(final)) {
    PPRT_RETURN_IF_ERROR(renamePath(staging, final));
    PPRT_RETURN_IF_ERROR(syncDir(root));
    point();
    PPRT_RETURN_IF_ERROR(writeLatest(root, name));
    // What a commit without the exchange, killed midway, left.
    return removeAll(backup);
  }
  // Resaving: the new folder and the old one trade names in one step.
  bool exchanged = !hooks.noExchange &&
                   ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD,
                               final.c_str(), RENAME_EXCHANGE) == 0;
  if (!exchanged && !hooks.noExchange && errno != EINVAL && errno != ENOSYS &&
      errno != EOPNOTSUPP)
    return ioError("cannot exchange " + staging + " and " + final);
  if (exchanged) {
    PPRT_RETURN_IF_ERROR(syncDir(root));
    point();
    PPRT_RETURN_IF_ERROR(writeLatest(root, name));
    point();
    return removeAll(staging); // the old step-N
  }
  // No exchange: latest names a copy of the old step-N while it is
  // replaced. A copy that latest names already is what a crash in the
  // middle of this left, and the only complete one: keep it.
  bool redirect = readLatest(root) == name;
  if (readLatest(root) != backupName) {
    PPRT_RETURN_IF_ERROR(removeAll(backup));
    PPRT_RETURN_IF_ERROR(linkCopy(final, backup));
    point();
    if (redirect)
      PPRT_RETURN_IF_ERROR(writeLatest(root, backupName));
  }
  point();
  PPRT_RETURN_IF_ERROR(removeAll(final));
  point();
  PPRT_RETURN_IF_ERROR(renamePath(staging, final));
  PPRT_RETURN_IF_ERROR(syncDir(root));
  point();
  PPRT_RETURN_IF_ERROR(writeLatest(root, name));
  point();
  return removeAll(backup);
}

} // namespace pprt
