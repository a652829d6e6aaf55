//===- WriteErrorsTest.cpp - a failed write names its cause ---------------===//
//
// The temporary of an atomic write pointed at /dev/full (every write fails
// with ENOSPC): the error says "No space left on device", and neither the
// temporary nor the file is left.
//
//===----------------------------------------------------------------------===//

#include "pprt/Files.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

using namespace pprt;

namespace {
bool present(const std::string &path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}
} // namespace

TEST(WriteErrors, FullDiskIsNamedAndTheTemporaryRemoved) {
  if (::access("/dev/full", W_OK) != 0)
    GTEST_SKIP() << "no /dev/full";
  std::string path = testing::TempDir() + "/full-" + std::to_string(getpid()) +
                     ".npy";
  ::unlink(path.c_str());
  ASSERT_EQ(::symlink("/dev/full", (path + ".tmp").c_str()), 0);
  HostTensor t;
  t.desc = {DType::F32, {4}};
  t.bytes.resize(16);
  Status st = writeNpy(path, t);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("No space left on device"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find(path + ".tmp"), std::string::npos)
      << st.message();
  EXPECT_FALSE(present(path + ".tmp"));
  EXPECT_FALSE(present(path));
}

TEST(WriteErrors, AnUnwritableFolderIsNamed) {
  Status st = writeFileAtomically("/nonexistent-folder/x", "a", 1);
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos)
      << st.message();
}
