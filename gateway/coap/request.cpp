// See request.hpp.
#include "gateway/coap/request.hpp"

namespace gw::coap {

Request request_of(const coap_pdu_t* pdu) {
  Request r;
  switch (coap_pdu_get_code(pdu)) {
    case COAP_REQUEST_CODE_GET:
      r.method = Method::Get;
      break;
    case COAP_REQUEST_CODE_POST:
      r.method = Method::Post;
      break;
    case COAP_REQUEST_CODE_PUT:
      r.method = Method::Put;
      break;
    case COAP_REQUEST_CODE_DELETE:
      r.method = Method::Delete;
      break;
    default:
      r.method = Method::Other;
  }
  r.confirmable = coap_pdu_get_type(pdu) == COAP_MESSAGE_CON;
  coap_opt_iterator_t it;
  coap_option_iterator_init(pdu, &it, COAP_OPT_ALL);
  while (coap_opt_t* o = coap_option_next(&it)) {
    const char* v = reinterpret_cast<const char*>(coap_opt_value(o));
    const std::size_t n = coap_opt_length(o);
    if (it.number == COAP_OPTION_URI_PATH) {
      r.path.emplace_back(v, n);
    } else if (it.number == COAP_OPTION_URI_QUERY) {
      r.query.emplace_back(v, n);
    } else if (it.number == COAP_OPTION_OBSERVE) {
      // RFC 7641 §2: 0 to 3 bytes; a longer value is not an Observe value we know.
      r.observe = n <= 3 ? coap_decode_var_bytes(coap_opt_value(o), n) : 0xFFFFFFFFu;
    }
  }
  return r;
}

std::string token_of(const coap_pdu_t* pdu) {
  const coap_bin_const_t tok = coap_pdu_get_token(pdu);
  return std::string(reinterpret_cast<const char*>(tok.s), tok.length);
}

}  // namespace gw::coap
