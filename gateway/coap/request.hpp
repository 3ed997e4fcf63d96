// A received CoAP request (libcoap's PDU) as the mapping's plain Request: method, type, Uri-Path and
// Uri-Query values, Observe. The only code between libcoap's parser and protocols/coap/mapping; fuzzed
// together with it (tests/fuzz/coap_request_fuzz.cpp).
#pragma once

#include <coap3/coap.h>

#include <string>

#include "protocols/coap/mapping.hpp"

namespace gw::coap {

Request request_of(const coap_pdu_t* pdu);
std::string token_of(const coap_pdu_t* pdu);

}  // namespace gw::coap
