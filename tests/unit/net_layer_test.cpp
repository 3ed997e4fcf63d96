// The transport stack (gateway/net/layer.hpp) with toy layers over memory: the order bytes pass in
// each direction, a layer's handshake, its goodbye on close, failure, and the identity it reports; and a
// listener's bound on handshakes in progress under both policies.
#include "gateway/net/layer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace gw::net {
namespace {

// Adds one to each byte going down and subtracts it going up; opens after it has read "HI" from below,
// answering "OK"; says "BYE" on close; fails on a '!'.
class ShiftLayer final : public Layer {
 public:
  explicit ShiftLayer(std::string identity = "") : identity_(std::move(identity)) {}
  void from_below(std::string_view bytes) override {
    if (bytes.find('!') != std::string_view::npos) {
      deliver_down("ALERT");
      fail("bang");
      return;
    }
    if (!open_) {
      hello_.append(bytes);
      if (hello_.size() < 2) return;
      if (hello_.substr(0, 2) != "HI") {
        fail("no hello");
        return;
      }
      open_ = true;
      deliver_down("OK");
      bytes = std::string_view(hello_).substr(2);
    }
    std::string up(bytes);
    for (char& c : up) c = static_cast<char>(c - 1);
    deliver_up(up);
  }
  void from_above(std::string_view bytes) override {
    std::string down(bytes);
    for (char& c : down) c = static_cast<char>(c + 1);
    deliver_down(down);
  }
  void close() override {
    deliver_down("BYE");
    close_below();
  }
  bool opening() const override { return !open_; }
  std::string peer_identity() const override { return open_ ? identity_ : ""; }
  std::string describe() const override { return "shift"; }

 private:
  std::string hello_;
  std::string identity_;
  bool open_ = false;
};

struct Ends {
  std::string wire;
  std::string app;
  std::vector<std::string> events;
  StackEnds make() {
    StackEnds e;
    e.to_socket = [this](std::string_view b) { wire.append(b); };
    e.close_socket = [this] { events.push_back("close_socket"); };
    e.to_protocol = [this](std::string_view b) { app.append(b); };
    e.protocol_eof = [this] { events.push_back("eof"); };
    e.failed = [this](const std::string& why) { events.push_back("failed: " + why); };
    return e;
  }
};

std::vector<std::unique_ptr<Layer>> two(std::string id = "") {
  std::vector<std::unique_ptr<Layer>> v;
  v.push_back(std::make_unique<ShiftLayer>(id));
  v.push_back(std::make_unique<ShiftLayer>());
  return v;
}

TEST(LayerStack, NoLayersPassesBytesThrough) {
  Ends ends;
  LayerStack stack({}, ends.make());
  EXPECT_FALSE(stack.opening());
  stack.from_socket("abc");
  stack.from_protocol("xyz");
  stack.close();
  EXPECT_EQ(ends.app, "abc");
  EXPECT_EQ(ends.wire, "xyz");
  EXPECT_EQ(ends.events, std::vector<std::string>{"close_socket"});
}

TEST(LayerStack, HandshakesThenDecodesUpAndEncodesDownInOrder) {
  Ends ends;
  LayerStack stack(two("device-7"), ends.make());
  EXPECT_TRUE(stack.opening());
  EXPECT_EQ(stack.peer_identity(), "");
  stack.from_socket("H");
  EXPECT_TRUE(stack.opening());
  // Both open; the upper one answers its "HI" through the lower one ("OK" shifted by one).
  stack.from_socket("IIJ");  // the upper hello, shifted by the peer
  EXPECT_EQ(ends.wire, "OKPL");
  EXPECT_FALSE(stack.opening());
  EXPECT_EQ(stack.peer_identity(), "device-7");
  EXPECT_EQ(stack.describe(), "shift shift");
  stack.from_socket("cde");  // shifted twice on the way down by the peer: "abc"
  EXPECT_EQ(ends.app, "abc");
  ends.wire.clear();
  stack.from_protocol("abc");
  EXPECT_EQ(ends.wire, "cde");
}

TEST(LayerStack, CloseRunsEachLayersGoodbyeTopDownThenClosesTheSocket) {
  Ends ends;
  LayerStack stack(two(), ends.make());
  stack.from_socket("HIIJ");
  ends.wire.clear();
  stack.close();
  // The upper layer's "BYE" passes through the lower one (shifted), then the lower one's own.
  EXPECT_EQ(ends.wire, "CZFBYE");
  EXPECT_EQ(ends.events, std::vector<std::string>{"close_socket"});
  stack.from_protocol("late");
  stack.close();
  EXPECT_EQ(ends.wire, "CZFBYE");
}

TEST(LayerStack, AFailureStopsBytesUpButLetsTheLayersLastWordDown) {
  Ends ends;
  LayerStack stack(two(), ends.make());
  stack.from_socket("HIIJ");
  ends.wire.clear();
  stack.from_socket("!");
  EXPECT_TRUE(stack.failed());
  EXPECT_EQ(stack.error(), "bang");
  EXPECT_EQ(ends.wire, "ALERT");
  EXPECT_EQ(ends.events, std::vector<std::string>{"failed: bang"});
  stack.from_socket("cde");
  stack.from_protocol("abc");
  EXPECT_EQ(ends.app, "");
  stack.close();
  EXPECT_EQ(ends.events, (std::vector<std::string>{"failed: bang", "close_socket"}));
}

TEST(LayerStack, BadHandshakeFails) {
  Ends ends;
  LayerStack stack(two(), ends.make());
  stack.from_socket("NO");
  EXPECT_TRUE(stack.failed());
  EXPECT_EQ(stack.error(), "no hello");
}

TEST(LayeredListener, RefuseNewKeepsTheRunningHandshakes) {
  ListenerLayers layers;
  layers.max_handshakes = 2;
  layers.when_full = HandshakeFullPolicy::RefuseNew;
  LayeredListener l("tls", layers);
  std::vector<int> closed;
  auto a = l.admit([&] { closed.push_back(1); });
  auto b = l.admit([&] { closed.push_back(2); });
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(l.admit([&] { closed.push_back(3); }));
  EXPECT_EQ(l.counts.refused, 1u);
  EXPECT_EQ(l.counts.in_progress, 2u);
  l.release(*a);  // a handshake ends: room again
  EXPECT_TRUE(l.admit([&] { closed.push_back(4); }));
  EXPECT_TRUE(closed.empty());
}

TEST(LayeredListener, CloseOldestEvictsInArrivalOrder) {
  ListenerLayers layers;
  layers.max_handshakes = 2;
  LayeredListener l("tls", layers);
  EXPECT_EQ(layers.when_full, HandshakeFullPolicy::CloseOldest);  // the default
  std::vector<int> closed;
  auto a = l.admit([&] { closed.push_back(1); });
  auto b = l.admit([&] { closed.push_back(2); });
  auto c = l.admit([&] { closed.push_back(3); });
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(closed, std::vector<int>{1});
  l.release(*b);  // b finished its handshake: c is the oldest now
  auto d = l.admit([&] { closed.push_back(4); });
  auto e = l.admit([&] { closed.push_back(5); });
  ASSERT_TRUE(d && e);
  EXPECT_EQ(closed, (std::vector<int>{1, 3}));
  EXPECT_EQ(l.counts.evicted, 2u);
  EXPECT_EQ(l.counts.in_progress, 2u);
}

}  // namespace
}  // namespace gw::net
