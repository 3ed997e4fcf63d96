// A hook for protocol personalities layered on the MQTT broker (the NETPIE microgear semantics are
// the first): told when a client has connected, when it is gone and when its session has ended for
// good, and shown every client PUBLISH before it is routed, which it may consume (e.g. `@setalias`, chat to
// an alias). It runs on the loop thread like the broker, and must not destroy connections (close_with() is
// fine).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/broker/message.hpp"

namespace gw::broker {

class Connection;

// Per-connection state an extension keeps; owned by the Connection, freed with it.
struct ConnectionData {
  virtual ~ConnectionData() = default;
};

class Extension {
 public:
  virtual ~Extension() = default;
  // After a successful CONNACK.
  virtual void on_connected(Connection& /*c*/) {}
  // After the connection is gone and its will handled. `graceful`: the client sent DISCONNECT.
  virtual void on_disconnected(Connection& /*c*/, bool /*graceful*/) {}
  // The session of `client_id` has ended for good and no connection holds the id: a session that ends
  // with its connection (3.1.1 CleanSession=1, v5 Session Expiry 0; MQTT 5.0 §3.1.2.11.2), right after
  // its on_disconnected; a persistent session at its expiry, also one the store kept that had expired
  // while the daemon was down (found at the first tick). Not called when a new connection ends the old
  // session (takeover, Clean Start 1): that client is back.
  virtual void on_session_ended(const std::string& /*client_id*/) {}
  // A client PUBLISH, after validation and authorization, before routing. Return true to consume it
  // (it is then acknowledged but not routed).
  virtual bool on_publish(Connection& /*c*/, const MessagePtr& /*m*/) { return false; }
  // A client PUBLISH the authorization hook refused (it is dropped and counted); e.g. to sanction the
  // client. May close the connection (close_with()).
  virtual void on_publish_refused(Connection& /*c*/, std::string_view /*topic*/) {}
};

// Several extensions behind the broker's one slot, called in the order added. on_publish stops at the
// first that consumes the message.
class ExtensionChain final : public Extension {
 public:
  void add(Extension* e) { chain_.push_back(e); }
  bool empty() const { return chain_.empty(); }
  void on_connected(Connection& c) override {
    for (Extension* e : chain_) e->on_connected(c);
  }
  void on_disconnected(Connection& c, bool graceful) override {
    for (Extension* e : chain_) e->on_disconnected(c, graceful);
  }
  void on_session_ended(const std::string& client_id) override {
    for (Extension* e : chain_) e->on_session_ended(client_id);
  }
  bool on_publish(Connection& c, const MessagePtr& m) override {
    for (Extension* e : chain_) {
      if (e->on_publish(c, m)) return true;
    }
    return false;
  }
  void on_publish_refused(Connection& c, std::string_view topic) override {
    for (Extension* e : chain_) e->on_publish_refused(c, topic);
  }

 private:
  std::vector<Extension*> chain_;
};

}  // namespace gw::broker
