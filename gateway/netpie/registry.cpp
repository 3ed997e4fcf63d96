// Registry: keys from the config, request and access tokens, approvals, revocation and the replay
// cache (see registry.hpp). Records are stored as small JSON objects under
// "netpie.local/rt/<token>" (request tokens), "netpie.local/at/<token>" (device access tokens) and
// "netpie.local/ak/<key>" (keys the owner approved).
#include "gateway/netpie/registry.hpp"

#include <algorithm>
#include <iterator>

#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"

namespace gw::netpie {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxSeenSignatures = 4096;
constexpr std::int64_t kTombstoneSeconds = 30 * 24 * 3600;  // revoked tokens are forgotten after this

std::string rt_key(std::string_view token) {
  return std::string(kStorePrefix) + "rt/" + std::string(token);
}
std::string at_key(std::string_view token) {
  return std::string(kStorePrefix) + "at/" + std::string(token);
}
std::string ak_key(std::string_view key) {
  return std::string(kStorePrefix) + "ak/" + std::string(key);
}

// "192.168.1.20:5000" -> "192.168.1.20": a device asks from a new source port every time.
std::string_view peer_host(std::string_view peer) {
  const std::size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

std::string dump(const json& j) {
  // Verifiers and aliases come from the network: never let invalid UTF-8 throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

const char* kind_name(KeyKind k) {
  return k == KeyKind::Device ? "device" : "session";
}

std::string absolute(const std::string& appid, const std::string& relative) {
  return "/" + appid + relative;
}

}  // namespace

const char* to_string(Registry::AccessError e) {
  switch (e) {
    case Registry::AccessError::NotApproved:
      return "not approved yet";
    case Registry::AccessError::KeyUnknown:
      return "unknown key";
    case Registry::AccessError::KeyDisabled:
      return "key disabled";
    case Registry::AccessError::QuotaExceeded:
      return "token quota of the key reached";
    case Registry::AccessError::StoreFailed:
      return "token could not be stored";
  }
  return "?";
}

Registry::Registry(const config::Netpie& cfg, const Clock& clock, microgear::RandomSource rng,
                   TokenStore* store)
    : cfg_(cfg), clock_(clock), rng_(std::move(rng)), store_(store) {
  build_keys();
}

void Registry::build_keys() {
  keys_.clear();
  appids_.clear();
  for (const auto& app : cfg_.apps) {
    appids_.push_back(app.appid);
    for (const auto& k : app.keys) {
      Key key;
      key.key = k.key;
      key.secret = k.secret;
      key.appid = app.appid;
      key.kind = k.kind == "session" ? KeyKind::Session : KeyKind::Device;
      key.auto_approve = k.auto_approve;
      key.enabled = k.enabled;
      for (const auto& f : k.rights.publish) key.rights.publish.push_back(absolute(app.appid, f));
      for (const auto& f : k.rights.subscribe) key.rights.subscribe.push_back(absolute(app.appid, f));
      key.rights.max_qos = k.rights.max_qos;
      keys_.emplace(key.key, std::move(key));
    }
  }
}

std::vector<Registry::Ended> Registry::reload() {
  std::unordered_map<std::string, Key> old = std::move(keys_);
  build_keys();
  // Why a token can no longer be used: its key is gone, moved, or was re-issued with a new secret (the
  // token's MQTT password is an HMAC over the key's secret, so the clients need new tokens anyway).
  auto lost = [&](const std::string& keyname, const std::string& appid) -> const char* {
    const Key* now = key(keyname);
    if (now == nullptr || now->appid != appid) return "key removed from the configuration";
    auto before = old.find(keyname);
    if (before != old.end() && before->second.secret != now->secret) return "key secret changed";
    return nullptr;
  };
  std::vector<Ended> ended;
  for (auto it = access_.begin(); it != access_.end();) {
    auto next = std::next(it);
    if (const char* why = lost(it->second.key, it->second.appid)) {
      GW_LOG(Info, "netpie", "dropping access token %s of key %s: %s", it->first.c_str(),
             it->second.key.c_str(), why);
      if (!it->second.revoked) ended.push_back({it->first, why});
      erase_access(it);
    } else if (!it->second.revoked && !key(it->second.key)->enabled) {
      ended.push_back({it->first, "key disabled"});
    }
    it = next;
  }
  for (auto it = requests_.begin(); it != requests_.end();) {
    auto next = std::next(it);
    if (lost(it->second.key, it->second.appid) != nullptr) erase_request(it);
    it = next;
  }
  return ended;
}

const Key* Registry::key(std::string_view k) const {
  auto it = keys_.find(std::string(k));
  return it == keys_.end() ? nullptr : &it->second;
}

bool Registry::has_app(std::string_view appid) const {
  return std::find(appids_.begin(), appids_.end(), appid) != appids_.end();
}

std::size_t Registry::load(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::size_t restored = 0;
  std::vector<std::string> stale;
  for (const auto& [k, v] : entries) {
    std::string_view name(k);
    if (name.substr(0, kStorePrefix.size()) != kStorePrefix) continue;
    name.remove_prefix(kStorePrefix.size());
    const bool is_rt = name.substr(0, 3) == "rt/";
    const bool is_at = name.substr(0, 3) == "at/";
    const bool is_ak = name.substr(0, 3) == "ak/";
    if (!is_rt && !is_at && !is_ak) continue;
    const std::string token(name.substr(3));
    json j = json::parse(v, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      GW_LOG(Warn, "netpie", "dropping unreadable stored record %s", k.c_str());
      stale.push_back(k);
      continue;
    }
    const std::string keyname = j.value("key", "");
    const std::string appid = j.value("appid", "");
    const Key* key = this->key(keyname);
    if (key == nullptr || key->appid != appid) {
      GW_LOG(Info, "netpie", "dropping stored token of key %s (app %s): no longer configured",
             keyname.c_str(), appid.c_str());
      stale.push_back(k);
      continue;
    }
    if (is_ak) {
      approved_keys_[keyname] = j.value("approved_at", std::int64_t{0});
    } else if (is_rt) {
      // Before approval was per key, it was stored with each request: an approved request of a key
      // that needs approval means the owner approved that key.
      if (j.value("approved", false) && !key->auto_approve && !approved_keys_.contains(keyname)) {
        approved_keys_[keyname] = j.value("created", std::int64_t{0});
        persist_approval(*key, approved_keys_[keyname]);
      }
      RequestToken rt;
      rt.token = token;
      rt.secret = j.value("secret", "");
      rt.key = keyname;
      rt.appid = appid;
      rt.verifier = j.value("verifier", "");
      rt.mgrev = j.value("mgrev", "");
      rt.created = j.value("created", std::int64_t{0});
      rt.peer = j.value("peer", "");
      rt.access_token = j.value("access", "");
      requests_[token] = std::move(rt);
    } else {
      AccessToken at;
      at.token = token;
      at.secret = j.value("secret", "");
      at.key = keyname;
      at.appid = appid;
      at.kind = KeyKind::Device;
      at.alias = j.value("alias", "");
      at.issued = j.value("issued", std::int64_t{0});
      at.used = j.value("used", false);
      at.revoked = j.value("revoked", false);
      at.revoked_at = j.value("revoked_at", std::int64_t{0});
      if (!at.revoked) live_per_key_[keyname]++;
      access_[token] = std::move(at);
      ++restored;
    }
  }
  if (store_) {
    for (auto& k : stale) store_->erase(std::move(k));
  }
  return restored;
}

std::string Registry::new_token() {
  // 62^16 tokens: a collision is astronomically unlikely, but cheap to rule out.
  while (true) {
    std::string t = microgear::make_token(rng_);
    if (!requests_.contains(t) && !access_.contains(t)) return t;
  }
}

void Registry::persist_request(const RequestToken& rt) {
  if (!store_) return;
  json j{{"secret", rt.secret}, {"key", rt.key},         {"appid", rt.appid}, {"verifier", rt.verifier},
         {"mgrev", rt.mgrev},   {"created", rt.created}, {"peer", rt.peer},   {"access", rt.access_token}};
  store_->put(rt_key(rt.token), dump(j), {});
}

void Registry::persist_approval(const Key& key, std::int64_t at) {
  if (!store_) return;
  store_->put(ak_key(key.key), dump(json{{"key", key.key}, {"appid", key.appid}, {"approved_at", at}}), {});
}

void Registry::persist_access(const AccessToken& at, std::function<void(bool)> done) {
  if (!store_ || at.kind != KeyKind::Device) {
    if (done) done(true);
    return;
  }
  json j{{"secret", at.secret}, {"key", at.key},   {"appid", at.appid},     {"alias", at.alias},
         {"issued", at.issued}, {"used", at.used}, {"revoked", at.revoked}, {"revoked_at", at.revoked_at}};
  store_->put(at_key(at.token), dump(j), std::move(done));
}

Result<const RequestToken*, Registry::RequestError> Registry::issue_request(
    const Key& key, const microgear::CallbackParams& cb, std::string peer, bool oauth2) {
  if (!key.enabled) return unexpected(RequestError::KeyDisabled);
  if (requests_.size() >= cfg_.max_request_tokens) {
    sweep();
    if (requests_.size() >= cfg_.max_request_tokens) return unexpected(RequestError::TooMany);
  }
  RequestToken rt;
  rt.token = new_token();
  if (!oauth2) rt.secret = microgear::make_secret(rng_);
  rt.key = key.key;
  rt.appid = key.appid;
  rt.verifier = cb.verifier;
  rt.mgrev = cb.mgrev;
  rt.created = now();
  rt.peer = std::move(peer);
  const bool waits = !key_approved(key);
  if (waits) {
    // The same device asking again (Python after each 401): its previous request is replaced.
    for (auto it = requests_.begin(); it != requests_.end(); ++it) {
      const RequestToken& old = it->second;
      if (old.key == rt.key && old.verifier == rt.verifier && old.access_token.empty() &&
          peer_host(old.peer) == peer_host(rt.peer)) {
        erase_request(it);
        break;  // at most one: every earlier request of this device was replaced the same way
      }
    }
  }
  persist_request(rt);
  if (waits) {
    GW_LOG(Info, "netpie",
           "device %s (key %s, app %s, from %s) waits for approval of its key: request token %s",
           rt.verifier.c_str(), rt.key.c_str(), rt.appid.c_str(), rt.peer.c_str(), rt.token.c_str());
  }
  auto [it, _] = requests_.emplace(rt.token, std::move(rt));
  return &it->second;
}

const RequestToken* Registry::request(std::string_view token) const {
  auto it = requests_.find(std::string(token));
  return it == requests_.end() ? nullptr : &it->second;
}

bool Registry::key_approved(const Key& key) const {
  return key.auto_approve || approved_keys_.contains(key.key);
}

bool Registry::approved(const RequestToken& rt) const {
  const Key* k = key(rt.key);
  return k != nullptr && k->appid == rt.appid && key_approved(*k);
}

std::optional<std::int64_t> Registry::approved_at(std::string_view k) const {
  auto it = approved_keys_.find(std::string(k));
  if (it == approved_keys_.end()) return std::nullopt;
  return it->second;
}

const Key* Registry::approve(std::string_view request_token_or_key) {
  const RequestToken* rt = request(request_token_or_key);
  const Key* k = rt != nullptr ? key(rt->key) : key(request_token_or_key);
  if (k == nullptr) return nullptr;
  if (!approved_keys_.contains(k->key)) {
    const std::int64_t t = now();
    approved_keys_[k->key] = t;
    persist_approval(*k, t);
    GW_LOG(Info, "netpie", "key %s (app %s) approved by the owner%s%s", k->key.c_str(), k->appid.c_str(),
           rt ? " through request token " : "", rt ? rt->token.c_str() : "");
    if (on_approved_) on_approved_(k->key);
  }
  return k;
}

bool Registry::deny(std::string_view request_token_or_key) {
  if (auto it = requests_.find(std::string(request_token_or_key)); it != requests_.end()) {
    GW_LOG(Info, "netpie", "request token %s (key %s) denied", it->first.c_str(), it->second.key.c_str());
    erase_request(it);
    return true;
  }
  const Key* k = key(request_token_or_key);
  if (k == nullptr) return false;
  if (approved_keys_.erase(k->key) > 0 && store_) store_->erase(ak_key(k->key));
  std::size_t forgotten = 0;
  for (auto it = requests_.begin(); it != requests_.end();) {
    auto next = std::next(it);
    if (it->second.key == k->key && it->second.access_token.empty()) {
      erase_request(it);
      ++forgotten;
    }
    it = next;
  }
  GW_LOG(Info, "netpie", "approval of key %s withdrawn by the owner; %zu waiting requests forgotten",
         k->key.c_str(), forgotten);
  return true;
}

std::vector<const RequestToken*> Registry::requests() const {
  std::vector<const RequestToken*> out;
  for (const auto& [_, rt] : requests_) out.push_back(&rt);
  std::sort(out.begin(), out.end(), [](const RequestToken* a, const RequestToken* b) {
    return a->created != b->created ? a->created < b->created : a->token < b->token;
  });
  return out;
}

void Registry::erase_request(std::unordered_map<std::string, RequestToken>::iterator it) {
  if (store_) store_->erase(rt_key(it->first));
  requests_.erase(it);
}

void Registry::erase_access(std::unordered_map<std::string, AccessToken>::iterator it) {
  if (!it->second.revoked) {
    auto n = live_per_key_.find(it->second.key);
    if (n != live_per_key_.end() && n->second > 0) --n->second;
  }
  if (store_ && it->second.kind == KeyKind::Device) store_->erase(at_key(it->first));
  access_.erase(it);
}

void Registry::exchange(std::string_view request_token, ExchangeDone done) {
  auto rit = requests_.find(std::string(request_token));
  if (rit == requests_.end()) {
    done(unexpected(AccessError::NotApproved));
    return;
  }
  RequestToken& rt = rit->second;
  const Key* k = key(rt.key);
  if (k == nullptr || k->appid != rt.appid) {
    done(unexpected(AccessError::KeyUnknown));
    return;
  }
  if (!k->enabled) {
    done(unexpected(AccessError::KeyDisabled));
    return;
  }
  if (!key_approved(*k)) {
    done(unexpected(AccessError::NotApproved));
    return;
  }
  if (!rt.access_token.empty()) {
    auto ait = access_.find(rt.access_token);
    if (ait != access_.end() && !ait->second.revoked) {
      done(ait->second);
      return;
    }
  }
  if (live_tokens(k->key) >= cfg_.max_tokens_per_key) {
    done(unexpected(AccessError::QuotaExceeded));
    return;
  }
  AccessToken at;
  at.token = new_token();
  at.secret = microgear::make_secret(rng_);
  at.key = k->key;
  at.appid = k->appid;
  at.kind = k->kind;
  // The verifier is the alias when the gear has one, else its library id (§3.2, §13 Q8).
  if (!rt.verifier.empty() && rt.verifier != rt.mgrev) at.alias = rt.verifier;
  at.issued = now();
  const std::string token = at.token;
  access_[token] = at;
  live_per_key_[k->key]++;
  rt.access_token = token;
  if (k->kind == KeyKind::Device) persist_request(rt);
  GW_LOG(Info, "netpie", "access token %s issued to key %s (app %s, %s, alias '%s')", token.c_str(),
         k->key.c_str(), k->appid.c_str(), kind_name(k->kind), at.alias.c_str());
  // The store commits in submission order: once the token is durable, so is the request record.
  persist_access(at, [this, token, rtoken = rt.token, done = std::move(done)](bool ok) {
    auto ait = access_.find(token);
    if (ait == access_.end()) {
      done(unexpected(AccessError::StoreFailed));
      return;
    }
    if (!ok) {
      GW_LOG(Warn, "netpie", "access token %s could not be stored; the request is refused", token.c_str());
      erase_access(ait);
      auto r = requests_.find(rtoken);
      if (r != requests_.end()) r->second.access_token.clear();
      done(unexpected(AccessError::StoreFailed));
      return;
    }
    done(ait->second);
  });
}

const AccessToken* Registry::access(std::string_view token) const {
  auto it = access_.find(std::string(token));
  return it == access_.end() ? nullptr : &it->second;
}

std::vector<const AccessToken*> Registry::tokens() const {
  std::vector<const AccessToken*> out;
  for (const auto& [_, at] : access_) out.push_back(&at);
  std::sort(out.begin(), out.end(), [](const AccessToken* a, const AccessToken* b) {
    return a->issued != b->issued ? a->issued < b->issued : a->token < b->token;
  });
  return out;
}

std::size_t Registry::live_tokens(std::string_view k) const {
  auto it = live_per_key_.find(std::string(k));
  return it == live_per_key_.end() ? 0 : it->second;
}

bool Registry::revoke(std::string_view token) {
  auto it = access_.find(std::string(token));
  if (it == access_.end() || it->second.revoked) return false;
  AccessToken& at = it->second;
  at.revoked = true;
  at.revoked_at = now();
  auto n = live_per_key_.find(at.key);
  if (n != live_per_key_.end() && n->second > 0) --n->second;
  persist_access(at, {});
  GW_LOG(Info, "netpie", "access token %s (key %s) revoked", at.token.c_str(), at.key.c_str());
  const std::string copy = at.token;  // the listener may look the token up again
  if (on_revoked_) on_revoked_(copy);
  return true;
}

void Registry::mark_used(std::string_view token) {
  auto it = access_.find(std::string(token));
  if (it == access_.end() || it->second.used) return;
  it->second.used = true;
  persist_access(it->second, {});
}

void Registry::remember_alias(std::string_view token, std::string alias) {
  auto it = access_.find(std::string(token));
  if (it == access_.end() || it->second.alias == alias) return;
  it->second.alias = std::move(alias);
  persist_access(it->second, {});
}

bool Registry::replayed(const std::string& signature, std::int64_t timestamp) {
  const std::int64_t t = now();
  while (!seen_order_.empty() &&
         (seen_order_.front().second < t || seen_order_.size() >= kMaxSeenSignatures)) {
    auto it = seen_.find(seen_order_.front().first);
    if (it != seen_.end() && it->second == seen_order_.front().second) seen_.erase(it);
    seen_order_.pop_front();
  }
  if (seen_.contains(signature)) return true;
  // A request older than the window is refused anyway, so it need not be remembered longer.
  const std::int64_t expiry = std::max(timestamp, t) + static_cast<std::int64_t>(cfg_.clock_skew_s) + 1;
  seen_[signature] = expiry;
  seen_order_.emplace_back(signature, expiry);
  return false;
}

void Registry::sweep() {
  const std::int64_t t = now();
  const auto ttl = static_cast<std::int64_t>(cfg_.request_token_ttl_s);
  for (auto it = requests_.begin(); it != requests_.end();) {
    auto next = std::next(it);
    if (t - it->second.created > ttl) erase_request(it);
    it = next;
  }
  for (auto it = access_.begin(); it != access_.end();) {
    auto next = std::next(it);
    const AccessToken& at = it->second;
    const bool unused_session = at.kind == KeyKind::Session && !at.used && !at.revoked && t - at.issued > ttl;
    // Session tokens are revoked at every disconnect: their tombstones go sooner.
    const std::int64_t keep = at.kind == KeyKind::Session ? ttl : kTombstoneSeconds;
    const bool old_tombstone = at.revoked && t - at.revoked_at > keep;
    if (unused_session || old_tombstone) erase_access(it);
    it = next;
  }
}

}  // namespace gw::netpie
