//===- FilesTest.cpp - npy round trips, the .ppx header -------------------===//

#include "pprt/Files.h"
#include "pprt/Format.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <unistd.h>

using namespace pprt;

TEST(Npy, RoundTrip) {
  HostTensor t;
  t.desc = {DType::F32, {2, 3}};
  for (float v : {1.f, 2.f, 3.f, 4.f, 5.f, -6.5f})
    t.bytes.insert(t.bytes.end(), reinterpret_cast<uint8_t *>(&v),
                   reinterpret_cast<uint8_t *>(&v) + 4);
  std::string path = testing::TempDir() + "/roundtrip.npy";
  ASSERT_TRUE(writeNpy(path, t).isOk());
  auto back = readNpy(path);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->desc, t.desc);
  EXPECT_EQ(back->bytes, t.bytes);
}

TEST(Npy, RejectsTruncatedAndForeignFiles) {
  std::string path = testing::TempDir() + "/bad.npy";
  FILE *f = std::fopen(path.c_str(), "wb");
  std::fputs("not numpy at all", f);
  std::fclose(f);
  auto r = readNpy(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("not a .npy file"), std::string::npos);

  HostTensor t;
  t.desc = {DType::I64, {4}};
  t.bytes.assign(32, 1);
  ASSERT_TRUE(writeNpy(path, t).isOk());
  FILE *g = std::fopen(path.c_str(), "r+b");
  std::fseek(g, 0, SEEK_END);
  long size = std::ftell(g);
  std::fclose(g);
  ASSERT_EQ(truncate(path.c_str(), size - 8), 0);
  r = readNpy(path);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos);
}

TEST(Format, HeaderCarriesVersionAndChecksum) {
  const char body[] = "flatbuffer bytes";
  std::string h = stageProgramHeader(body, sizeof body);
  ASSERT_EQ(h.size(), kStageProgramHeaderBytes);
  EXPECT_EQ(std::memcmp(h.data(), kStageProgramMagic, 4), 0);
  uint32_t version;
  std::memcpy(&version, h.data() + 4, 4);
  EXPECT_EQ(version, kStageProgramVersion);
  uint64_t sum;
  std::memcpy(&sum, h.data() + 16, 8);
  EXPECT_EQ(sum, fnv1a(body, sizeof body));
  EXPECT_NE(fnv1a(body, sizeof body), fnv1a(body, sizeof body - 1));
}
