//===- Paths.h - the one rule for names read from untrusted files -*- C++ -*-===//
//
// Every path that comes out of a file ppc or pprun reads (an ONNX model's
// external-data location, a plan's program and weight entries, a model
// output's name turned into a file name) is resolved here, so that no file
// can lead either tool outside its folder: the name must be relative, have
// no ".." component, and, after following symlinks, still lie inside the
// folder.
//
//===----------------------------------------------------------------------===//

#ifndef PPRT_PATHS_H
#define PPRT_PATHS_H

#include "pprt/Status.h"

#include <string>

namespace pprt {

/// `root/name`, when `name` is relative, has no empty or ".." component,
/// and (following symlinks, for as much of it as exists) resolves inside
/// `root`. Otherwise an InvalidArgument error, one line, that starts with
/// `what` (for example "external data of initializer 'w'") and names the
/// offending path.
StatusOr<std::string> resolveInside(const std::string &root,
                                    const std::string &name,
                                    const std::string &what);

/// A file name for a tensor name (a model output written as NAME.npy): the
/// name itself when it is one plain path component, else InvalidArgument
/// naming it (a name with '/', "..", "." or a control character would
/// otherwise place the file elsewhere).
Status checkFileComponent(const std::string &name, const std::string &what);

} // namespace pprt

#endif // PPRT_PATHS_H
