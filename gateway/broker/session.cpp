// Session helpers that need no broker context.
#include "gateway/broker/session.hpp"

#include <algorithm>

namespace gw::broker {

std::uint16_t Session::next_packet_id() {
  // Skip 0 and ids still in flight (MQTT 5.0 §2.2.1). The window is far below 65,535, so this ends.
  while (true) {
    ++last_packet_id;
    if (last_packet_id == 0) last_packet_id = 1;
    auto used = std::any_of(inflight.begin(), inflight.end(),
                            [&](const InflightOut& f) { return f.packet_id == last_packet_id; });
    if (!used) return last_packet_id;
  }
}

}  // namespace gw::broker
