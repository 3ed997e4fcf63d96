// Fuzz target for the MQTT codec: frames and decodes arbitrary bytes at each protocol level and, for
// every packet that decodes, checks that encoding it and decoding the result gives the same packet, that
// the re-encoded bytes frame as exactly one packet, and (for PUBLISH) that the hot-path encoder and
// publish_size agree with the generic encoder. Built two ways: as a libFuzzer target under clang, and
// with GW_FUZZ_REPLAY as a plain program that runs the same check over a corpus directory, so CTest
// replays the corpus with any compiler.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>

#include "protocols/mqtt/codec.hpp"
#include "protocols/mqtt/topic.hpp"

namespace {

using namespace gw::mqtt;

constexpr std::size_t kMaxPacket = 1 << 20;

[[noreturn]] void fail(const char* what, Version v, PacketType t) {
  std::fprintf(stderr, "mqtt round trip broken at level %d, %s: %s\n", static_cast<int>(v), type_name(t),
               what);
  std::abort();
}

ByteView view(const Buffer& b) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
}

void check_round_trip(Version v, const Packet& p) {
  const PacketType t = type_of(p);
  Buffer wire;
  encode(p, v, wire);
  const Frame f = parse_frame(view(wire), kMaxPacket * 2);
  if (f.status != FrameStatus::Ok || f.total() != wire.size()) fail("re-encoded bytes do not frame", v, t);
  const auto again = decode(v, f.header, view(wire).subspan(f.header_len));
  if (!again.ok()) fail(again.error().what, v, t);
  if (!(again.value() == p)) fail("decode(encode(p)) != p", v, t);

  if (const auto* pub = std::get_if<Publish>(&p)) {
    Buffer fast;
    encode_publish(fast, v, pub->topic, pub->payload, pub->qos, pub->retain, pub->dup, pub->packet_id,
                   &pub->properties);
    if (fast != wire) fail("encode_publish differs from encode", v, t);
    if (publish_size(v, pub->topic, pub->payload.size(), pub->qos, &pub->properties) != wire.size()) {
      fail("publish_size is wrong", v, t);
    }
  }
}

// Decodes every whole packet at the start of `data`, one after another, at level `v`.
int check_level(Version v, ByteView data) {
  int decoded = 0;
  while (!data.empty()) {
    const Frame f = parse_frame(data, kMaxPacket);
    if (f.status != FrameStatus::Ok) break;
    auto r = decode(v, f.header, data.subspan(f.header_len, f.remaining));
    if (r.ok()) {
      check_round_trip(v, r.value());
      ++decoded;
    }
    data = data.subspan(f.total());
  }
  return decoded;
}

// The whole input also goes through the topic functions, which must never crash and must agree with
// each other.
void check_topics(ByteView data) {
  const std::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  const std::size_t split = s.find('\n');
  const std::string_view filter = s.substr(0, split);
  const std::string_view topic = split == std::string_view::npos ? std::string_view{} : s.substr(split + 1);
  if (is_valid_topic_name(topic) && !is_valid_utf8(topic)) std::abort();
  if (is_valid_filter(filter) && !is_valid_utf8(filter)) std::abort();
  // A valid topic name used as a filter matches itself: it has no wildcards, so the '$' rule is moot.
  if (is_valid_topic_name(topic) && !topic_matches(topic, topic)) std::abort();
  if (is_valid_filter(filter) && !parse_shared(filter) && is_valid_topic_name(topic)) {
    (void)topic_matches(filter, topic);
  }
}

// The whole check; returns how many packets decoded (summed over the three levels).
int check_input(ByteView in) {
  int decoded = 0;
  for (const Version v : {Version::V31, Version::V311, Version::V5}) decoded += check_level(v, in);
  check_topics(in);
  return decoded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_input(ByteView(data, size));
  return 0;
}

#ifdef GW_FUZZ_REPLAY
// Corpus replay: runs every file of the given directories through the fuzz check.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

int main(int argc, char** argv) {
  std::size_t files = 0;
  int decoded = 0;
  for (int i = 1; i < argc; ++i) {
    for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      decoded += check_input(ByteView(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
      ++files;
    }
  }
  std::printf("replayed %zu files, %d packets decoded and round-tripped\n", files, decoded);
  if (files == 0) {
    std::fprintf(stderr, "no corpus files found\n");
    return 1;
  }
  return 0;
}
#endif
