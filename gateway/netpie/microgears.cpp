// The microgear extension (see microgears.hpp). Control messages a microgear publishes under
// "/<appid>/@..." are consumed here; everything else is routed by the broker, chat additionally
// reaching the alias holders directly (they never subscribe to their gearname topic, docs/netpie-protocol.md
// §7.2).
#include "gateway/netpie/microgears.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::netpie {

namespace {

constexpr std::string_view kSetAlias = "@setalias/";
constexpr std::string_view kWritePostbox = "@writepostbox/";
constexpr std::string_view kReadPostbox = "@readpostbox/";
constexpr std::string_view kWriteFeed = "@writefeed/";
constexpr std::string_view kGearname = "gearname/";

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool valid_alias(std::string_view a) {
  return !a.empty() && a.size() <= kMaxAliasBytes && a.find_first_of("/+#") == std::string_view::npos &&
         mqtt::is_valid_utf8(a);
}

// "/<appid>/<rest>" -> appid and rest; nullopt for topics of another shape.
std::optional<std::pair<std::string_view, std::string_view>> split_app(std::string_view topic) {
  if (topic.size() < 3 || topic.front() != '/') return std::nullopt;
  const std::size_t slash = topic.find('/', 1);
  if (slash == std::string_view::npos || slash == 1) return std::nullopt;
  return std::pair{topic.substr(1, slash - 1), topic.substr(slash + 1)};
}

}  // namespace

Gear* gear_of(const broker::Connection& c) {
  return dynamic_cast<Gear*>(c.data());
}

Microgears::Microgears(Registry& registry, Postboxes& postboxes)
    : registry_(registry), postboxes_(postboxes) {
  registry_.set_revocation_listener([this](const std::string& token) { disconnect(token, "token revoked"); });
}

std::string Microgears::alias_key(std::string_view appid, std::string_view alias) {
  std::string k(appid);
  k.push_back('\0');
  k.append(alias);
  return k;
}

void Microgears::on_connected(broker::Connection& c) {
  Gear* g = gear_of(c);
  if (g == nullptr) return;
  // A takeover (the same token connecting again) ends the old connection without on_disconnected:
  // forget it here, before the new one is indexed.
  if (auto old = by_token_.find(g->token); old != by_token_.end() && old->second != c.id())
    forget(old->second);
  const std::uint64_t id = c.id();
  auto& live = live_[id];
  live.token = g->token;
  live.appid = g->appid;
  by_token_[g->token] = id;
  registry_.mark_used(g->token);
  if (const AccessToken* at = registry_.access(g->token); at && !at->alias.empty())
    set_alias(id, live, at->alias);
  g->alias = live.alias;
  GW_LOG(Debug, "netpie", "gear %s connected (app %s, alias '%s')", g->token.c_str(), g->appid.c_str(),
         live.alias.c_str());
  presence(live.appid, "&present", live.token, live.alias, kOnline);
}

void Microgears::on_disconnected(broker::Connection& c, bool graceful) {
  Gear* g = gear_of(c);
  if (g == nullptr) return;
  auto it = live_.find(c.id());
  if (it == live_.end()) return;
  const Live live = it->second;
  forget(c.id());
  GW_LOG(Debug, "netpie", "gear %s disconnected (%s)", live.token.c_str(), graceful ? "DISCONNECT" : "lost");
  presence(live.appid, "&absent", live.token, live.alias, kOffline);
  // Session-key tokens are one-time: they end with the connection (docs/netpie-protocol.md §2, flag S).
  if (g->kind == KeyKind::Session) registry_.revoke(live.token);
}

void Microgears::forget(std::uint64_t conn_id) {
  auto it = live_.find(conn_id);
  if (it == live_.end()) return;
  release_alias(conn_id, it->second);
  auto t = by_token_.find(it->second.token);
  if (t != by_token_.end() && t->second == conn_id) by_token_.erase(t);
  live_.erase(it);
}

void Microgears::release_alias(std::uint64_t conn_id, const Live& live) {
  if (live.alias.empty()) return;
  auto a = aliases_.find(alias_key(live.appid, live.alias));
  if (a == aliases_.end()) return;
  std::erase(a->second, conn_id);
  if (!a->second.empty()) return;
  aliases_.erase(a);
  if (alias_listener_) alias_listener_(live.appid, live.alias, false);
}

void Microgears::set_alias(std::uint64_t conn_id, Live& live, std::string alias) {
  release_alias(conn_id, live);
  live.alias = std::move(alias);
  auto& holders = aliases_[alias_key(live.appid, live.alias)];
  holders.push_back(conn_id);
  if (holders.size() == 1 && alias_listener_) alias_listener_(live.appid, live.alias, true);
}

void Microgears::presence(const std::string& appid, std::string_view topic, const std::string& token,
                          const std::string& alias, std::string_view type) {
  if (broker_ == nullptr) return;
  nlohmann::json j{{"gear", token}, {"alias", alias}, {"type", type}};
  auto m = std::make_shared<broker::Message>();
  m->topic = "/" + appid + "/" + std::string(topic);
  m->payload = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  broker_->publish(m);
}

void Microgears::send_direct(broker::Connection& c, std::string topic, std::string payload) {
  auto m = std::make_shared<broker::Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  c.deliver_direct(m, 0);
}

std::size_t Microgears::deliver_chat(const broker::MessagePtr& m) {
  if (broker_ == nullptr) return 0;
  auto parts = split_app(m->topic);
  if (!parts || !starts_with(parts->second, kGearname)) return 0;
  const std::string_view alias = parts->second.substr(kGearname.size());
  auto it = aliases_.find(alias_key(parts->first, alias));
  if (it == aliases_.end()) return 0;
  std::size_t n = 0;
  for (std::uint64_t id : std::vector<std::uint64_t>(it->second)) {
    broker::Connection* c = broker_->connection_by_id(id);
    if (c == nullptr || c->state() != broker::Connection::State::Connected || c->session() == nullptr)
      continue;
    // A holder that also subscribed to its gearname topic (the deprecated setname) gets it from the
    // broker's routing; do not send it twice.
    const auto& subs = c->session()->subscriptions;
    const bool subscribed = std::any_of(subs.begin(), subs.end(), [&](const auto& s) {
      return !mqtt::parse_shared(s.first) && mqtt::topic_matches(s.first, m->topic);
    });
    if (!subscribed) c->deliver_direct(m, 2);
    ++n;
  }
  return n;
}

std::size_t Microgears::route(const broker::MessagePtr& m) {
  const std::size_t n = deliver_chat(m);
  if (broker_) broker_->publish(m);
  return n;
}

bool Microgears::on_publish(broker::Connection& c, const broker::MessagePtr& m) {
  Gear* g = gear_of(c);
  auto parts = split_app(m->topic);
  if (g == nullptr || !parts || parts->first != g->appid) {
    // A plain MQTT client: chat still reaches the alias holders; routing goes on as usual.
    if (parts && starts_with(parts->second, kGearname)) deliver_chat(m);
    return false;
  }
  const std::string_view rest = parts->second;
  if (starts_with(rest, kGearname)) {
    deliver_chat(m);
    return false;
  }
  if (rest.empty() || rest.front() != '@') return false;
  auto live = live_.find(c.id());
  if (starts_with(rest, kSetAlias)) {
    const std::string_view alias = rest.substr(kSetAlias.size());
    if (!valid_alias(alias)) {
      send_direct(c, "@error", "invalid alias (1 to 64 bytes, no '/', '+' or '#')");
      return true;
    }
    if (live != live_.end()) {
      set_alias(c.id(), live->second, std::string(alias));
      g->alias = live->second.alias;
      registry_.remember_alias(g->token, std::string(alias));
      presence(g->appid, "&present", g->token, g->alias, kAliased);
    }
    return true;
  }
  if (starts_with(rest, kWritePostbox) || starts_with(rest, kReadPostbox)) {
    const bool write = starts_with(rest, kWritePostbox);
    postbox_command(c, *g, write ? kWritePostbox : kReadPostbox,
                    rest.substr(write ? kWritePostbox.size() : kReadPostbox.size()), m);
    return true;
  }
  if (starts_with(rest, kWriteFeed) && feed_writer_)
    return feed_writer_(c, *g, rest.substr(kWriteFeed.size()), m);
  // @push, @readstream, @writestream belong to the cloud (docs/netpie-protocol.md §7.3).
  const std::string command(rest.substr(0, rest.find('/')));
  send_direct(c, "@error", command + " is not available on the local endpoint");
  return true;
}

void Microgears::postbox_command(broker::Connection& c, const Gear& g, std::string_view command,
                                 std::string_view box, const broker::MessagePtr& m) {
  const std::string name(box);
  if (!Postboxes::valid_name(box)) {
    send_direct(c, "@error", "invalid postbox name");
    return;
  }
  if (command == kWritePostbox) {
    postboxes_.write(g.appid, name, m->payload, "",
                     [b = broker_, id = c.id(), name](std::optional<Postboxes::WriteError> err) {
                       if (!err || b == nullptr) return;
                       if (broker::Connection* conn = b->connection_by_id(id)) {
                         auto e = std::make_shared<broker::Message>();
                         e->topic = "@error";
                         e->payload = std::string(to_string(*err)) + ": " + name;
                         conn->deliver_direct(e, 0);
                       }
                     });
    return;
  }
  // The Node library: "data will be pushed through the topic /@readpostbox/<box>" (docs/netpie-protocol.md
  // §7.3). One message per read, oldest first; an empty payload says the box is empty.
  auto msg = postboxes_.read(g.appid, name);
  send_direct(c, "/" + g.appid + "/@readpostbox/" + name, msg ? std::move(msg->msg) : std::string());
}

void Microgears::on_publish_refused(broker::Connection& c, std::string_view topic) {
  Gear* g = gear_of(c);
  if (g == nullptr) return;
  // NETPIE disconnects a microgear that acts outside its rights (docs/netpie-protocol.md §7.4, [PY README]).
  GW_LOG(Info, "netpie", "gear %s (key %s) published to %.*s outside its rights: disconnected",
         g->token.c_str(), g->key.c_str(), static_cast<int>(topic.size()), topic.data());
  send_direct(c, "@error", "not allowed to publish to " + std::string(topic));
  c.close_with(mqtt::Reason::NotAuthorized, "publish outside the key's rights");
}

bool Microgears::push(std::string_view token, Push what, std::string payload) {
  if (broker_ == nullptr) return false;
  auto t = by_token_.find(std::string(token));
  if (t == by_token_.end()) return false;
  broker::Connection* c = broker_->connection_by_id(t->second);
  auto live = live_.find(t->second);
  if (c == nullptr || live == live_.end() || c->state() != broker::Connection::State::Connected) return false;
  switch (what) {
    case Push::Info:
      send_direct(*c, "@info", std::move(payload));
      break;
    case Push::Error:
      send_direct(*c, "@error", std::move(payload));
      break;
    case Push::ResetEndpoint:
      send_direct(*c, "/" + live->second.appid + "/&resetendpoint", std::move(payload));
      break;
  }
  return true;
}

bool Microgears::online(std::string_view token) const {
  return by_token_.contains(std::string(token));
}

void Microgears::disconnect(std::string_view token, const char* why) {
  if (broker_ == nullptr) return;
  auto t = by_token_.find(std::string(token));
  if (t == by_token_.end()) return;
  if (broker::Connection* c = broker_->connection_by_id(t->second))
    c->close_with(mqtt::Reason::NotAuthorized, why);
}

std::size_t Microgears::alias_holders(std::string_view appid, std::string_view alias) const {
  auto it = aliases_.find(alias_key(appid, alias));
  return it == aliases_.end() ? 0 : it->second.size();
}

}  // namespace gw::netpie
