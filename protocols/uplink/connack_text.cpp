// CONNACK codes as log text (connack_text.hpp).
#include "protocols/uplink/connack_text.hpp"

#include <cstdio>

namespace gw::uplink {
namespace {

// MQTT 5.0 §3.2.2.2 CONNACK reason codes.
const char* meaning(mqtt::Reason r) {
  using R = mqtt::Reason;
  switch (r) {
    case R::Success:
      return "accepted";
    case R::UnspecifiedError:
      return "unspecified error";
    case R::MalformedPacket:
      return "malformed packet";
    case R::ProtocolError:
      return "protocol error";
    case R::ImplementationSpecificError:
      return "implementation specific error";
    case R::UnsupportedProtocolVersion:
      return "unsupported protocol version";
    case R::ClientIdentifierNotValid:
      return "client identifier not valid";
    case R::BadUserNameOrPassword:
      return "bad user name or password";
    case R::NotAuthorized:
      return "not authorized";
    case R::ServerUnavailable:
      return "server unavailable";
    case R::ServerBusy:
      return "server busy";
    case R::Banned:
      return "banned";
    case R::BadAuthenticationMethod:
      return "bad authentication method";
    case R::TopicNameInvalid:
      return "topic name invalid";
    case R::PacketTooLarge:
      return "packet too large";
    case R::QuotaExceeded:
      return "quota exceeded";
    case R::PayloadFormatInvalid:
      return "payload format invalid";
    case R::RetainNotSupported:
      return "retain not supported";
    case R::QosNotSupported:
      return "QoS not supported";
    case R::UseAnotherServer:
      return "use another server";
    case R::ServerMoved:
      return "server moved";
    case R::ConnectionRateExceeded:
      return "connection rate exceeded";
    default:
      return "not a CONNACK reason code";
  }
}

struct V3Code {
  int code;
  const char* meaning;
};

// The MQTT 3.1.1 §3.2.2.3 return code the decoder mapped onto `r` (protocols/mqtt/decode.cpp), in that
// table's words; code -1 for a reason no 3.1.1 return code maps onto.
V3Code v3_return_code(mqtt::Reason r) {
  using R = mqtt::Reason;
  switch (r) {
    case R::Success:
      return {0, "accepted"};
    case R::UnsupportedProtocolVersion:
      return {1, "unacceptable protocol version"};
    case R::ClientIdentifierNotValid:
      return {2, "identifier rejected"};
    case R::ServerUnavailable:
      return {3, "server unavailable"};
    case R::BadUserNameOrPassword:
      return {4, "bad user name or password"};
    case R::NotAuthorized:
      return {5, "not authorized"};
    default:
      return {-1, nullptr};
  }
}

}  // namespace

std::string connack_text(mqtt::Version version, mqtt::Reason reason) {
  char buf[96];
  const V3Code v3 = v3_return_code(reason);
  if (version != mqtt::Version::V5 && v3.code >= 0) {
    std::snprintf(buf, sizeof buf, "CONNACK %d (%s)", v3.code, v3.meaning);
  } else {
    std::snprintf(buf, sizeof buf, "CONNACK 0x%02x (%s)", static_cast<unsigned>(reason), meaning(reason));
  }
  return buf;
}

}  // namespace gw::uplink
