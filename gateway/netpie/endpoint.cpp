// Endpoint wiring (see endpoint.hpp), the TokenStore over the store's key/value table, and the HTTP
// routing: CORS pre-flight first, then /api and /oauth2 (gearauth), /topic /microgear /postbox (REST),
// /admin, else 404.
#include "gateway/netpie/endpoint.hpp"

#include <sys/random.h>

#include <cerrno>

#include "gateway/base/log.hpp"
#include "gateway/netpie/authenticator.hpp"

namespace gw::netpie {

microgear::RandomSource system_random() {
  return [](std::span<std::uint8_t> out) {
    std::size_t done = 0;
    while (done < out.size()) {
      const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EINTR) {
        GW_LOG(Error, "netpie", "getrandom failed: errno %d", errno);
        std::abort();  // issuing guessable tokens would be worse than stopping
      }
    }
  };
}

// The store's key/value table as a TokenStore; completions run on the loop thread.
class Endpoint::KvStore final : public TokenStore {
 public:
  explicit KvStore(storage::Store& s) : store_(s) {}
  void put(std::string key, std::string value, std::function<void(bool)> done) override {
    storage::Store::Done cb;
    if (done) cb = [done](storage::Status st) { done(st == storage::Status::Ok); };
    const storage::Status st = store_.kv_put(std::move(key), std::move(value), cb);
    if (st != storage::Status::Ok) {
      GW_LOG(Warn, "netpie", "store refused a token write: %s", std::string(storage::to_string(st)).c_str());
      if (done) done(false);  // not queued: the completion will never run
    }
  }
  void erase(std::string key) override { store_.kv_erase(std::move(key)); }

 private:
  storage::Store& store_;
};

Endpoint::Endpoint(const config::Netpie& cfg, const Clock& clock, microgear::RandomSource rng)
    : clock_(clock),
      registry_(cfg, clock, std::move(rng), nullptr),
      postboxes_(cfg, clock, nullptr),
      gears_(registry_, postboxes_),
      gearauth_(registry_),
      rest_(registry_, gears_, postboxes_),
      admin_(registry_, gears_) {}

Endpoint::~Endpoint() = default;

std::unique_ptr<broker::Authenticator> Endpoint::authenticator(
    std::unique_ptr<broker::Authenticator> fallback) {
  return std::make_unique<MicrogearAuthenticator>(registry_, std::move(fallback));
}

Result<std::size_t, std::string> Endpoint::open(storage::Store* store) {
  if (store == nullptr) return std::size_t{0};
  auto entries = store->kv_scan_sync(std::string(kStorePrefix));
  if (!entries)
    return unexpected("cannot read NETPIE tokens: " + std::string(storage::to_string(entries.error())));
  kv_ = std::make_unique<KvStore>(*store);
  registry_.set_store(kv_.get());
  postboxes_.set_store(kv_.get());
  const std::size_t tokens = registry_.load(*entries);
  const std::size_t messages = postboxes_.load(*entries);
  GW_LOG(Info, "netpie", "restored %zu access tokens and %zu postbox messages", tokens, messages);
  return tokens;
}

void Endpoint::attach(broker::Broker& broker) {
  gears_.attach(broker);
  rest_.attach(broker);
  broker.set_extension(&gears_);
}

void Endpoint::tick() {
  gearauth_.tick();
  const Millis now = clock_.now_ms();
  if (now < next_sweep_) return;
  next_sweep_ = now + 1000;
  registry_.sweep();
}

std::size_t Endpoint::reload() {
  std::size_t closed = 0;
  for (const Registry::Ended& e : registry_.reload()) {
    if (!gears_.online(e.token)) continue;
    gears_.disconnect(e.token, e.why);
    ++closed;
  }
  return closed;
}

void Endpoint::handle(const http::Request& req, const net::HttpResponder& out) {
  // The HTML5 microgear calls the API cross-origin with an Authorization header (docs/netpie-protocol.md §4).
  if (http::is_cors_preflight(req)) {
    out.respond(http::cors_preflight_response(req, cors_));
    return;
  }
  net::HttpResponder cors(out.peer(), [out, policy = cors_](http::Response r) {
    http::add_cors_headers(r, policy);
    out.respond(std::move(r));
  });
  if (gearauth_.handle(req, cors) || rest_.handle(req, cors) || admin_.handle(req, cors)) return;
  cors.respond(rest_status(404, "no such resource: " + req.path));
}

std::vector<std::string> endpoint_port_warnings(const config::Config& cfg) {
  std::vector<std::string> out;
  if (!cfg.netpie.enabled) return out;
  auto mqtt_on = [&](std::uint16_t port) {
    for (const auto& l : cfg.listeners) {
      if (l.protocol == "mqtt" && l.port == port) return true;
    }
    return false;
  };
  constexpr std::uint16_t kFixed = 1883;  // the libraries' own port (docs/netpie-protocol.md §5)
  const std::uint16_t port = cfg.netpie.endpoint_port;
  if (port != kFixed) {
    out.push_back("netpie.endpoint_port is " + std::to_string(port) +
                  ", but the Node (0.8), ESP8266 (1.2), Python (1.2) and C# microgears ignore the endpoint's "
                  "port and connect to 1883; only Arduino-Ethernet, ESP8266-RTOS and older libraries use " +
                  std::to_string(port));
    if (!mqtt_on(port)) {
      out.push_back("no mqtt listener on netpie.endpoint_port " + std::to_string(port) +
                    ": the microgears that honour the endpoint's port will not reach the broker there");
    }
  }
  if (!mqtt_on(kFixed)) {
    out.push_back(
        "no mqtt listener on port 1883: the Node, ESP8266, Python and C# microgears connect to port 1883 of "
        "the endpoint's host whatever netpie.endpoint_port says, and reach this broker only if 1883 is "
        "forwarded to it");
  }
  return out;
}

void answer_not_found(const http::Request& req, const net::HttpResponder& out) {
  out.respond(http::text_response(404, "not found: " + req.path + " (the NETPIE endpoint is off)\n"));
}

}  // namespace gw::netpie
