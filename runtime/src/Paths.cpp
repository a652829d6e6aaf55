//===- Paths.cpp - confining names read from files to their folder --------===//

#include "pprt/Paths.h"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

namespace pprt {
namespace {

/// realpath(3), or empty when the path does not exist.
std::string realPath(const std::string &path) {
  char buf[PATH_MAX];
  if (!::realpath(path.c_str(), buf))
    return {};
  return buf;
}

bool isInside(const std::string &root, const std::string &path) {
  if (path == root)
    return true;
  std::string prefix = root == "/" ? root : root + "/";
  return path.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

Status checkFileComponent(const std::string &name, const std::string &what) {
  bool bad = name.empty() || name == "." || name == ".." ||
             name.find('/') != std::string::npos;
  for (unsigned char c : name)
    bad |= c < 0x20 || c == 0x7f;
  if (bad)
    return invalidArgument(what + ": the name '" + name +
                           "' is not a plain file name (it has '/', '..', or a "
                           "control character), so it would be written outside "
                           "its folder");
  return Status::ok();
}

StatusOr<std::string> resolveInside(const std::string &root,
                                    const std::string &name,
                                    const std::string &what) {
  auto refuse = [&](const std::string &why) {
    return invalidArgument(what + ": path '" + name + "' " + why);
  };
  if (name.empty())
    return refuse("is empty");
  if (name.find('\0') != std::string::npos)
    return refuse("holds a NUL byte");
  if (name[0] == '/')
    return refuse("is absolute; it must be relative to " + root);
  // Lexically: no "..", no empty component ("a//b" is harmless, but a
  // trailing '/' names a folder, not a file).
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos)
      end = name.size();
    std::string part = name.substr(start, end - start);
    if (part == "..")
      return refuse("leaves its folder ('..')");
    if (part.empty() && end == name.size())
      return refuse("names a folder");
    start = end + 1;
  }
  std::string rootReal = realPath(root.empty() ? "." : root);
  if (rootReal.empty())
    return notFound(what + ": folder '" + root + "': " + std::strerror(errno));
  std::string joined = (root.empty() ? std::string(".") : root) + "/" + name;
  // Follow symlinks for the longest prefix that exists: a symlinked file or
  // folder pointing out is refused even when its target is missing.
  std::string probe = joined;
  while (true) {
    struct stat st;
    if (::lstat(probe.c_str(), &st) == 0) {
      std::string real = realPath(probe);
      if (real.empty()) // a dangling symlink: where it points is unknown
        return refuse("is a symlink to a missing file");
      if (!isInside(rootReal, real))
        return refuse("resolves to '" + real + "', outside " + rootReal);
      break;
    }
    size_t slash = probe.rfind('/');
    if (slash == std::string::npos || probe.size() <= joined.size() - name.size())
      break;
    probe.resize(slash);
  }
  return joined;
}

} // namespace pprt
