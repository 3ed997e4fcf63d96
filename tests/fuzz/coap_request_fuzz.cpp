// libFuzzer target for the CoAP front end's request handling up to the broker: a datagram is parsed by
// libcoap (as the server does), turned into a Request (gateway/coap/request.cpp) and mapped to an Action
// (protocols/coap/mapping.cpp) under the first byte's choice of options. Checked: what the mapping hands on
// is what the broker accepts (a publish topic is a valid topic name, an observed filter a valid filter, an
// error has a CoAP error code), and mapping is deterministic.
#include <cstddef>
#include <cstdint>

#include "gateway/coap/request.hpp"
#include "protocols/coap/mapping.hpp"
#include "protocols/mqtt/topic.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

bool same(const gw::coap::Action& a, const gw::coap::Action& b) {
  return a.kind == b.kind && a.code == b.code && a.message == b.message && a.topic == b.topic &&
         a.qos == b.qos && a.retain == b.retain && a.clientid == b.clientid && a.token == b.token &&
         a.http_path == b.http_path && a.params == b.params;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static bool started = false;
  if (!started) {
    coap_startup();
    coap_set_log_level(LOG_EMERG);
    started = true;
  }
  gw::coap::Options o;
  o.pubsub = (data[0] & 1) == 0;
  o.netpie = (data[0] & 2) == 0;
  o.con_qos = (data[0] >> 2) % 3;
  o.non_qos = (data[0] >> 4) % 3;
  ++data;
  --size;
  coap_pdu_t* pdu = coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_GET, 0, size + 16);
  if (pdu == nullptr) return 0;
  if (coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu)) {
    const gw::coap::Request r = gw::coap::request_of(pdu);
    (void)gw::coap::token_of(pdu);
    const gw::coap::Action a = gw::coap::map_request(r, o);
    check(same(a, gw::coap::map_request(r, o)));
    switch (a.kind) {
      case gw::coap::Kind::Publish:
        check(gw::mqtt::is_valid_topic_name(a.topic) && a.qos <= 2);
        break;
      case gw::coap::Kind::Observe:
      case gw::coap::Kind::Unobserve:
        check(gw::mqtt::is_valid_filter(a.topic));
        break;
      case gw::coap::Kind::Error:
        check(a.code >= 400 && a.code < 600 && !a.message.empty());
        break;
      case gw::coap::Kind::Netpie:
        check(!a.http_path.empty() && a.http_path[0] == '/');
        break;
      default:
        break;
    }
    (void)gw::coap::well_known_core(o);
  }
  coap_delete_pdu(pdu);
  return 0;
}
