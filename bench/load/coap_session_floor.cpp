// netpie-coap-floor: libcoap's own memory per server session, without the gateway (bench/README.md "CoAP
// front end", memory). A minimal libcoap server on 127.0.0.1 (a free port, printed as "<addr>:<port> UDP")
// that keeps a reference on every session, as gateway/coap/server.cpp does for each endpoint, and answers
// every GET 2.05 with Observe, as an observe registration is answered. Run `netpie-coap-bench idle --pid <its
// pid>
// --coap-port <port>` against it: the RSS growth per endpoint is what libcoap 4.3.1 alone costs.
#include <coap3/coap.h>

#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

std::vector<coap_session_t*> held;  // reserved up front, so it adds nothing per session

void on_get(coap_resource_t*, coap_session_t* s, const coap_pdu_t*, const coap_string_t*, coap_pdu_t* resp) {
  if (coap_session_get_app_data(s) == nullptr) {
    coap_session_reference(s);
    coap_session_set_app_data(s, s);
    held.push_back(s);
  }
  coap_pdu_set_code(resp, COAP_RESPONSE_CODE_CONTENT);
  std::uint8_t b[4];
  coap_add_option(resp, COAP_OPTION_OBSERVE, coap_encode_var_safe(b, sizeof b, 1), b);
}

}  // namespace

int main() {
  held.reserve(1000000);
  coap_startup();
  coap_set_log_level(LOG_ERR);
  coap_context_t* ctx = coap_new_context(nullptr);
  if (ctx == nullptr) return 1;
  coap_context_set_block_mode(ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);  // as the gateway does
  coap_context_set_max_idle_sessions(ctx, 1000000);
  coap_resource_t* any = coap_resource_unknown_init2(on_get, 0);
  coap_register_request_handler(any, COAP_REQUEST_GET, on_get);
  coap_add_resource(ctx, any);
  coap_address_t a;
  coap_address_init(&a);
  a.addr.sin.sin_family = AF_INET;
  a.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.size = sizeof a.addr.sin;
  coap_endpoint_t* ep = coap_new_endpoint(ctx, &a, COAP_PROTO_UDP);
  if (ep == nullptr) return 1;
  std::printf("%s\n", coap_endpoint_str(ep));
  std::fflush(stdout);
  for (;;) coap_io_process(ctx, COAP_IO_WAIT);
}
