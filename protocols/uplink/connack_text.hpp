// How the uplink names a refused CONNACK in its logs: in the terms of the protocol version spoken, so that
// a 3.1.1 server's return code 4 reads "CONNACK 4 (bad user name or password)" as that server's own docs
// and logs say, not as the 5.0 reason code 0x86 the codec maps it onto (protocols/mqtt/packets.hpp).
#pragma once

#include <string>

#include "protocols/mqtt/packets.hpp"

namespace gw::uplink {

// "CONNACK <code> (<meaning>)": the 3.1/3.1.1 return code (MQTT 3.1.1 §3.2.2.3) or the 5.0 reason code in
// hex (MQTT 5.0 §3.2.2.2).
std::string connack_text(mqtt::Version version, mqtt::Reason reason);

}  // namespace gw::uplink
