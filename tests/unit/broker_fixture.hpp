// Test fixture for the broker core: clients are Connections over in-memory transports, time is a
// ManualClock. Packets the broker sends are decoded with the codec so tests assert on values.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "gateway/broker/broker.hpp"
#include "protocols/mqtt/codec.hpp"

namespace gw::broker::testing {

struct FakeTransport : Transport {
  std::string out;
  bool closed = false;
  bool notified = false;
  std::size_t extra_pending = 0;  // simulates a socket that does not drain
  std::string peer_name = "127.0.0.1:50000";
  bool loopback = true;
  void send(std::string_view b) override {
    if (!closed) out.append(b);
  }
  void close() override { closed = true; }
  std::size_t pending_bytes() const override { return extra_pending; }
  void set_flow_paused(bool p) override { flow_paused = p; }
  bool flow_paused = false;  // the broker asked us to stop reading (flow control)
  const std::string& peer() const override { return peer_name; }
  bool peer_is_loopback() const override { return loopback; }
};

class Client {
 public:
  Client(Broker& b, mqtt::Version v) : version_(v) { conn_ = std::make_unique<Connection>(b, t_); }
  ~Client() { drop(); }

  void write(const std::string& bytes) {
    conn_->on_data(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  }
  template <typename P>
  void send(const P& p) {
    mqtt::Buffer b;
    mqtt::encode(p, version_, b);
    write(b);
  }
  void send(const mqtt::Connect& c) {
    mqtt::Buffer b;
    mqtt::encode(c, b);
    write(b);
  }
  // Everything the broker sent since the last call, decoded.
  std::vector<mqtt::Packet> received() {
    std::vector<mqtt::Packet> out;
    std::size_t off = 0;
    auto data =
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(t_.out.data()), t_.out.size());
    while (off < data.size()) {
      auto f = mqtt::parse_frame(data.subspan(off), 1u << 28);
      if (f.status != mqtt::FrameStatus::Ok) break;
      auto p = mqtt::decode(version_, f.header, data.subspan(off + f.header_len, f.remaining));
      EXPECT_TRUE(p.ok()) << "broker sent an undecodable packet";
      if (!p.ok()) break;
      out.push_back(std::move(p).value());
      off += f.total();
    }
    t_.out.clear();
    return out;
  }
  std::vector<mqtt::Publish> publishes() {
    std::vector<mqtt::Publish> out;
    for (auto& p : received()) {
      if (auto* pub = std::get_if<mqtt::Publish>(&p)) out.push_back(*pub);
    }
    return out;
  }
  // What the net layer does once a closed socket's handle is gone.
  void notify_closed() {
    if (t_.closed && !t_.notified && conn_) {
      t_.notified = true;
      conn_->on_closed();
    }
  }
  // The peer vanishes (kill -9, cable pulled).
  void drop() {
    t_.closed = true;
    notify_closed();
  }
  bool closed() const { return t_.closed; }
  FakeTransport& transport() { return t_; }
  Connection& conn() { return *conn_; }
  mqtt::Version version() const { return version_; }

 private:
  mqtt::Version version_;
  FakeTransport t_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace gw::broker::testing
