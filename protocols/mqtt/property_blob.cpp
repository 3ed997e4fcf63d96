// Implementation of the property blob on the codec's own property reader and writer.
#include "protocols/mqtt/property_blob.hpp"

#include "protocols/mqtt/wire.hpp"

namespace gw::mqtt {
using namespace wire;

std::string encode_publish_properties(const Properties& p) {
  if (p == Properties{}) return {};
  Buffer out;
  write_properties(p, PropCtx::Publish, out);
  return out;
}

Result<Properties, Error> decode_publish_properties(std::string_view blob) {
  Properties p;
  if (blob.empty()) return p;
  Reader r(ByteView(reinterpret_cast<const std::uint8_t*>(blob.data()), blob.size()));
  if (auto fault = read_properties(r, PropCtx::Publish, p)) return unexpected(*fault);
  if (!r.done()) return unexpected(Error{Reason::MalformedPacket, "trailing bytes after properties"});
  return p;
}

}  // namespace gw::mqtt
