// The microgear personality of the broker (a broker::Extension): aliases set with @setalias, chat to
// "/<appid>/gearname/<alias>" delivered to every connection holding the alias whatever protocol the
// sender used, &present/&absent events, @info/@error and &resetendpoint pushed without a subscription,
// postbox commands, unsupported cloud commands answered with @error, the sanction for acting outside
// the key's rights (disconnect, docs/netpie-protocol.md §7.4), and the end of session-key tokens on
// disconnect. Loop thread only; it holds connection ids, never pointers, so a vanished connection is just
// missed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/broker/broker.hpp"
#include "gateway/broker/extension.hpp"
#include "gateway/netpie/postbox.hpp"
#include "gateway/netpie/registry.hpp"

namespace gw::netpie {

// What the authenticator attaches to a microgear's connection.
struct Gear final : broker::ConnectionData {
  std::string token;
  std::string appid;
  std::string key;
  KeyKind kind = KeyKind::Device;
  std::string alias;
};
Gear* gear_of(const broker::Connection& c);

// Presence event types (docs/netpie-protocol.md §8; Node's map p/a/n/u -> online/offline/aliased/unaliased).
inline constexpr std::string_view kOnline = "online";
inline constexpr std::string_view kOffline = "offline";
inline constexpr std::string_view kAliased = "aliased";

inline constexpr std::size_t kMaxAliasBytes = 64;

class Microgears final : public broker::Extension {
 public:
  Microgears(Registry& registry, Postboxes& postboxes);
  void attach(broker::Broker& broker) { broker_ = &broker; }

  void on_connected(broker::Connection& c) override;
  void on_disconnected(broker::Connection& c, bool graceful) override;
  bool on_publish(broker::Connection& c, const broker::MessagePtr& m) override;
  void on_publish_refused(broker::Connection& c, std::string_view topic) override;

  // Routes a message that did not come from an MQTT client (REST): chat to alias holders, then the
  // subscribers. Returns the number of alias holders reached directly.
  std::size_t route(const broker::MessagePtr& m);
  // Pushes "@info", "@error" (topic exactly that) or "/<appid>/&resetendpoint" to the live connection
  // of `token`. False when the token has no live connection.
  enum class Push { Info, Error, ResetEndpoint };
  bool push(std::string_view token, Push what, std::string payload);
  bool online(std::string_view token) const;
  // Closes the live connection of a token (after revocation).
  void disconnect(std::string_view token, const char* why);
  std::size_t alias_holders(std::string_view appid, std::string_view alias) const;
  // Told when an alias gets its first live holder (held) and loses its last one: the netpie uplink
  // subscribes the cloud chat topic of each alias held here.
  using AliasListener = std::function<void(const std::string& appid, const std::string& alias, bool held)>;
  void set_alias_listener(AliasListener l) { alias_listener_ = std::move(l); }
  // `@writefeed/<args>` goes to this writer (Feeds::microgear_write): true = consumed. Without one the
  // microgear gets @error.
  using FeedWriter = std::function<bool(broker::Connection& c, const Gear& g, std::string_view args,
                                        const broker::MessagePtr& m)>;
  void set_feed_writer(FeedWriter w) { feed_writer_ = std::move(w); }

 private:
  struct Live {
    std::string token;
    std::string appid;
    std::string alias;
  };
  static std::string alias_key(std::string_view appid, std::string_view alias);
  void set_alias(std::uint64_t conn_id, Live& live, std::string alias);
  void release_alias(std::uint64_t conn_id, const Live& live);
  void forget(std::uint64_t conn_id);
  void presence(const std::string& appid, std::string_view topic, const std::string& token,
                const std::string& alias, std::string_view type);
  std::size_t deliver_chat(const broker::MessagePtr& m);
  void send_direct(broker::Connection& c, std::string topic, std::string payload);
  void postbox_command(broker::Connection& c, const Gear& g, std::string_view command, std::string_view box,
                       const broker::MessagePtr& m);

  Registry& registry_;
  Postboxes& postboxes_;
  broker::Broker* broker_ = nullptr;
  AliasListener alias_listener_;
  FeedWriter feed_writer_;
  std::unordered_map<std::uint64_t, Live> live_;                         // by connection id
  std::unordered_map<std::string, std::uint64_t> by_token_;              // token -> connection id
  std::unordered_map<std::string, std::vector<std::uint64_t>> aliases_;  // appid '\0' alias -> ids
};

}  // namespace gw::netpie
