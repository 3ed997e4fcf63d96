// The NETPIE local endpoint's book of identities: the apps and keys of the config, the request tokens
// handed out by /api/rtoken (and /oauth2/authorize), the owner's approvals (per key: approving a
// device key once lets every later request token of that key through, because the Python library asks
// for a new request token after every 401), the access tokens handed out by /api/atoken (and
// /oauth2/token), their revocation, and a cache of seen OAuth signatures against replays. Device-key
// tokens, request tokens and approvals are kept through a TokenStore
// (the SQLite key/value table in the daemon) and restored at start; session-key tokens live in memory
// and end with their connection. Time and randomness are injected. Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "gateway/config/config.hpp"
#include "protocols/microgear/credentials.hpp"
#include "protocols/microgear/gearauth.hpp"

namespace gw::netpie {

enum class KeyKind : std::uint8_t { Device, Session };

// Topic filters a key's gears may use, already prefixed with "/<appid>".
struct Rights {
  std::vector<std::string> publish;
  std::vector<std::string> subscribe;
  std::uint8_t max_qos = 2;
};

struct Key {
  std::string key;
  std::string secret;
  std::string appid;
  KeyKind kind = KeyKind::Device;
  bool auto_approve = true;
  bool enabled = true;
  Rights rights;
};

struct RequestToken {
  std::string token;
  std::string secret;  // empty for an OAuth2-style code (docs/netpie-protocol.md §3.4: no token secret)
  std::string key;
  std::string appid;
  std::string verifier;  // the alias, or the library id when the gear has none (§3.2)
  std::string mgrev;
  std::int64_t created = 0;  // unix seconds
  std::string peer;          // who asked ("<address>:<port>"), shown to the owner in the pending list
  std::string access_token;  // once exchanged: a retried /api/atoken gets the same answer
};

struct AccessToken {
  std::string token;
  std::string secret;
  std::string key;
  std::string appid;
  KeyKind kind = KeyKind::Device;
  std::string alias;  // from the verifier, then the latest @setalias; applied at the next connect
  std::int64_t issued = 0;
  bool used = false;  // has connected at least once
  bool revoked = false;
  std::int64_t revoked_at = 0;
};

// Where tokens outlive the process. put()'s `done(true)` means durable; it may run later, on the loop.
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  virtual void put(std::string key, std::string value, std::function<void(bool ok)> done) = 0;
  virtual void erase(std::string key) = 0;
};

// Key prefix of everything the local endpoint keeps in the store's key/value table.
inline constexpr std::string_view kStorePrefix = "netpie.local/";

class Registry {
 public:
  Registry(const config::Netpie& cfg, const Clock& clock, microgear::RandomSource rng, TokenStore* store);

  // Start-up: the store's entries under kStorePrefix. Tokens of keys no longer configured (or moved to
  // another app) are dropped and erased. Returns the number of tokens restored.
  std::size_t load(const std::vector<std::pair<std::string, std::string>>& entries);
  void set_store(TokenStore* store) { store_ = store; }

  const config::Netpie& config() const { return cfg_; }
  // Reload (SIGHUP): rebuilds the apps and keys from config(), which the caller has replaced. Tokens of
  // keys that are gone, moved to another app or have a new secret are dropped (and erased from the
  // store); tokens of disabled keys are kept (enabling the key again brings them back). Returns the
  // tokens whose live connections must end, with why; keys that remain keep their clients, under their
  // new rights from the next PUBLISH or SUBSCRIBE on.
  struct Ended {
    std::string token;
    const char* why;
  };
  std::vector<Ended> reload();
  const Key* key(std::string_view key) const;
  bool has_app(std::string_view appid) const;
  std::int64_t now() const { return clock_.unix_seconds(); }

  // ---- Request tokens and approval ----
  enum class RequestError { TooMany, KeyDisabled };
  // A new request token (with a 32-character secret unless `oauth2`). The verifier is kept to check the
  // atoken call and to name the gear. While the key waits for approval, a new request from the same
  // key, verifier and peer address replaces that device's previous one (Python asks anew after every
  // 401; without this its discarded tokens would pile up to max_request_tokens).
  Result<const RequestToken*, RequestError> issue_request(const Key& key, const microgear::CallbackParams& cb,
                                                          std::string peer, bool oauth2);
  const RequestToken* request(std::string_view token) const;
  // Whether the request may be exchanged: its key auto-approves or the owner approved the key.
  bool approved(const RequestToken& rt) const;
  bool key_approved(const Key& key) const;
  std::optional<std::int64_t> approved_at(std::string_view key) const;  // owner's approval, unix seconds
  // The owner approves the key of a request token (or the key named directly): every request token of
  // that key, present and future, may be exchanged. Durable. The key, or nullptr if neither is known.
  const Key* approve(std::string_view request_token_or_key);
  // A request token: forgets it (the device starts over). A key: withdraws the owner's approval and
  // forgets the key's unexchanged requests (its live access tokens stay; revoke them to end them).
  bool deny(std::string_view request_token_or_key);
  std::vector<const RequestToken*> requests() const;  // oldest first

  // ---- Access tokens ----
  enum class AccessError { NotApproved, KeyUnknown, KeyDisabled, QuotaExceeded, StoreFailed };
  using ExchangeDone = std::function<void(Result<AccessToken, AccessError>)>;
  // Exchanges an approved request token for an access token; a device token is durable before `done`
  // runs. Exchanging the same request token again gives the same access token while it is live.
  void exchange(std::string_view request_token, ExchangeDone done);
  const AccessToken* access(std::string_view token) const;  // revoked ones too (check .revoked)
  std::vector<const AccessToken*> tokens() const;
  // Revokes a live token: it is kept as a tombstone (so /api/revoke stays idempotent and a later
  // CONNECT gets CONNACK 4) and the revocation listener is told. False if unknown or already revoked.
  bool revoke(std::string_view token);
  void set_revocation_listener(std::function<void(const std::string& token)> fn) {
    on_revoked_ = std::move(fn);
  }
  // Told the key when the owner approves it (held /api/atoken requests are then answered at once).
  void set_approval_listener(std::function<void(const std::string& key)> fn) { on_approved_ = std::move(fn); }
  Millis now_ms() const { return clock_.now_ms(); }
  void mark_used(std::string_view token);
  void remember_alias(std::string_view token, std::string alias);
  std::size_t live_tokens(std::string_view key) const;

  // ---- Replay protection for OAuth requests ----
  // Records a verified request's signature; true if it was already seen within the timestamp window
  // (the same signature means the same URL, parameters, nonce and timestamp: a replay).
  bool replayed(const std::string& signature, std::int64_t timestamp);

  // Drops expired request tokens, unused session tokens and old tombstones. Call every few seconds.
  void sweep();

 private:
  void build_keys();
  std::string new_token();
  void persist_request(const RequestToken& rt);
  void persist_approval(const Key& key, std::int64_t at);
  void persist_access(const AccessToken& at, std::function<void(bool)> done);
  void erase_request(std::unordered_map<std::string, RequestToken>::iterator it);
  void erase_access(std::unordered_map<std::string, AccessToken>::iterator it);

  const config::Netpie& cfg_;
  const Clock& clock_;
  microgear::RandomSource rng_;
  TokenStore* store_;
  std::unordered_map<std::string, Key> keys_;
  std::vector<std::string> appids_;
  std::unordered_map<std::string, RequestToken> requests_;
  std::unordered_map<std::string, std::int64_t> approved_keys_;  // key -> when the owner approved it
  std::unordered_map<std::string, AccessToken> access_;
  std::unordered_map<std::string, std::size_t> live_per_key_;
  std::function<void(const std::string&)> on_revoked_;
  std::function<void(const std::string&)> on_approved_;
  // Seen signatures with their expiry, oldest first; bounded (the oldest go first when full).
  std::unordered_map<std::string, std::int64_t> seen_;
  std::deque<std::pair<std::string, std::int64_t>> seen_order_;
};

const char* to_string(Registry::AccessError e);

}  // namespace gw::netpie
