// A hook for protocol personalities layered on the MQTT broker (the NETPIE microgear semantics are
// the first): told when a client has connected and when it is gone, and shown every client PUBLISH
// before it is routed, which it may consume (e.g. `@setalias`, chat to an alias). It runs on the loop
// thread like the broker, and must not destroy connections (close_with() is fine).
#pragma once

#include <memory>
#include <string_view>

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
  // A client PUBLISH, after validation and authorization, before routing. Return true to consume it
  // (it is then acknowledged but not routed).
  virtual bool on_publish(Connection& /*c*/, const MessagePtr& /*m*/) { return false; }
  // A client PUBLISH the authorization hook refused (it is dropped and counted); e.g. to sanction the
  // client. May close the connection (close_with()).
  virtual void on_publish_refused(Connection& /*c*/, std::string_view /*topic*/) {}
};

}  // namespace gw::broker
