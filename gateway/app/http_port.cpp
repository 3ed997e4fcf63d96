#include "gateway/app/http_port.hpp"

#include <utility>

#include "gateway/uplink/http_client.hpp"

namespace gw::uplink {
namespace {

class ClientPort final : public HttpPort {
 public:
  ClientPort(uv_loop_t* loop, std::shared_ptr<const net::TlsClientContext> tls)
      : client_(loop, std::move(tls)) {}
  void request(const HttpRequest& r, Done done) override {
    client_.cancel();  // the flow asks one thing at a time; a late request replaces a stale one
    client_.start(r, [done = std::move(done)](HttpClient::Outcome o) {
      if (o) {
        done(std::move(o).value());
      } else {
        done(HttpFailed{o.error()});
      }
    });
  }
  void cancel() override { client_.cancel(); }

 private:
  HttpClient client_;
};

}  // namespace

std::unique_ptr<HttpPort> make_http_port(uv_loop_t* loop, std::shared_ptr<const net::TlsClientContext> tls) {
  return std::make_unique<ClientPort>(loop, std::move(tls));
}

}  // namespace gw::uplink
