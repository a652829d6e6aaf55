//===- TransportTest.cpp - the local transport ----------------------------===//

#include "pprt/Transport.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

using namespace pprt;

TEST(LocalTransport, MessagesArriveInOrder) {
  LocalWorld world(2, 5);
  auto a = world.transport(0), b = world.transport(1);
  std::thread sender([&] {
    for (uint8_t i = 0; i < 10; ++i)
      ASSERT_TRUE(a->send(1, {i, uint8_t(i + 1)}).isOk());
  });
  for (uint8_t i = 0; i < 10; ++i) {
    auto m = b->recv(0);
    ASSERT_TRUE(m.isOk()) << m.status().message();
    EXPECT_EQ(*m, (std::vector<uint8_t>{i, uint8_t(i + 1)}));
  }
  sender.join();
}

TEST(LocalTransport, ReceiveTimesOut) {
  LocalWorld world(2, 0.2);
  auto b = world.transport(1);
  auto start = std::chrono::steady_clock::now();
  auto m = b->recv(0);
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::DeadlineExceeded);
  EXPECT_NE(m.status().message().find("no message from rank 0"),
            std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(LocalTransport, AFailedPeerEndsTheWait) {
  LocalWorld world(2, 60);
  auto a = world.transport(0), b = world.transport(1);
  std::thread failing([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    a->abort("stage 0: node 'x' (matmul): boom");
  });
  auto m = b->recv(0);
  failing.join();
  ASSERT_FALSE(m.isOk());
  EXPECT_EQ(m.status().code(), StatusCode::Unavailable);
  EXPECT_EQ(m.status().message(), "rank 0 failed: stage 0: node 'x' (matmul): boom");
}
