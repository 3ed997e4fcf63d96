// PUBLISH properties as a self-contained byte string, for storing a message's v5 properties (the store
// keeps them opaque). The format is the PUBLISH property block of MQTT 5.0 §3.3.2.3: a length varint and
// the properties, so a stored blob is exactly what goes on the wire.
#pragma once

#include <string>
#include <string_view>

#include "gateway/base/result.hpp"
#include "protocols/mqtt/codec.hpp"

namespace gw::mqtt {

// Empty string for "no properties" (the common case costs nothing).
std::string encode_publish_properties(const Properties& p);
Result<Properties, Error> decode_publish_properties(std::string_view blob);

}  // namespace gw::mqtt
