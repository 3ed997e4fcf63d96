// Printable names of MQTT reason codes, for log lines (the broker's disconnect and refused-CONNECT
// lines). Pure: the codec itself never logs.
#pragma once

#include <string_view>

#include "protocols/mqtt/packets.hpp"

namespace gw::mqtt {

std::string_view reason_name(Reason reason);  // "Keep Alive timeout"

}  // namespace gw::mqtt
