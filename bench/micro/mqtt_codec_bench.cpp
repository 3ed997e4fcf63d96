// Micro-benchmarks for the MQTT codec's hot paths: decoding and encoding per packet type (PUBLISH with
// 64-byte and 1 KiB payloads, with and without v5 properties; CONNECT; SUBSCRIBE; acks), the fan-out
// encoder, framing, and topic matching. Inputs are built once outside the timed loops.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "protocols/mqtt/codec.hpp"
#include "protocols/mqtt/topic.hpp"

namespace {

using namespace gw::mqtt;

ByteView view(const Buffer& b) {
  return ByteView(reinterpret_cast<const std::uint8_t*>(b.data()), b.size());
}

Publish make_publish(std::size_t payload, bool props) {
  Publish p{
      false, 1, false, "netpie/app1/gearname/sensor-0042/temperature", 4242, {}, std::string(payload, 'x')};
  if (props) {
    p.properties.payload_format_indicator = 1;
    p.properties.message_expiry_interval = 3600;
    p.properties.content_type = "application/json";
    p.properties.user_properties = {{"origin", "edge-1"}};
  }
  return p;
}

Connect make_connect() {
  Connect c;
  c.version = Version::V311;
  c.protocol_name = "MQTT";
  c.keep_alive = 60;
  c.client_id = "microgear-esp8266-0042";
  c.username = "AbCdEfGhIjKlMnOp%1500000000";
  c.password = std::string(28, 'p');  // a base64 HMAC-SHA1
  c.will = Will{"netpie/app1/&absent/sensor-0042", "offline", 1, false, {}};
  return c;
}

Subscribe make_subscribe() {
  return Subscribe{7,
                   {},
                   {{"netpie/app1/gearname/sensor-0042/#", {1, false, false, 0}},
                    {"netpie/app1/&present", {0, false, false, 0}},
                    {"netpie/app1/+/temperature", {1, false, false, 0}}}};
}

// Decodes one pre-encoded packet per iteration.
void decode_packet(benchmark::State& state, const Packet& packet, Version v) {
  Buffer wire;
  encode(packet, v, wire);
  const Frame f = parse_frame(view(wire), 1 << 20);
  const ByteView body = view(wire).subspan(f.header_len);
  for (auto _ : state) {
    auto r = decode(v, f.header, body);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

// Encodes into a buffer that is cleared but keeps its capacity, as a connection's output buffer does.
void encode_packet(benchmark::State& state, const Packet& packet, Version v) {
  Buffer out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    encode(packet, v, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}

void BM_DecodePublish64(benchmark::State& s) {
  decode_packet(s, make_publish(64, false), Version::V311);
}
void BM_DecodePublish64V5Props(benchmark::State& s) {
  decode_packet(s, make_publish(64, true), Version::V5);
}
void BM_DecodePublish1K(benchmark::State& s) {
  decode_packet(s, make_publish(1024, false), Version::V311);
}
void BM_DecodeConnect(benchmark::State& s) {
  decode_packet(s, make_connect(), Version::V311);
}
void BM_DecodeSubscribe(benchmark::State& s) {
  decode_packet(s, make_subscribe(), Version::V311);
}
void BM_DecodePuback(benchmark::State& s) {
  decode_packet(s, Ack{PacketType::Puback, 4242, Reason::Success, {}}, Version::V311);
}
void BM_DecodePubrecV5Reason(benchmark::State& s) {
  decode_packet(s, Ack{PacketType::Pubrec, 4242, Reason::NoMatchingSubscribers, {}}, Version::V5);
}

void BM_EncodePublish64(benchmark::State& s) {
  encode_packet(s, make_publish(64, false), Version::V311);
}
void BM_EncodePublish64V5Props(benchmark::State& s) {
  encode_packet(s, make_publish(64, true), Version::V5);
}
void BM_EncodeConnect(benchmark::State& s) {
  encode_packet(s, make_connect(), Version::V311);
}
void BM_EncodeSubscribe(benchmark::State& s) {
  encode_packet(s, make_subscribe(), Version::V311);
}
void BM_EncodeConnack(benchmark::State& s) {
  encode_packet(s, Connack{}, Version::V311);
}
void BM_EncodeSuback(benchmark::State& s) {
  encode_packet(s, Suback{7, {}, {Reason::GrantedQos1, Reason::Success, Reason::GrantedQos1}}, Version::V311);
}
void BM_EncodePuback(benchmark::State& s) {
  encode_packet(s, Ack{PacketType::Puback, 4242, Reason::Success, {}}, Version::V311);
}
void BM_EncodePubrecV5Reason(benchmark::State& s) {
  encode_packet(s, Ack{PacketType::Pubrec, 4242, Reason::NoMatchingSubscribers, {}}, Version::V5);
}

// The broker's fan-out: one PUBLISH from parts, appended to an output buffer.
void BM_EncodePublishFanOut64(benchmark::State& state) {
  const std::string topic = "netpie/app1/gearname/sensor-0042/temperature";
  const std::string payload(64, 'x');
  Buffer out;
  out.reserve(4096);
  for (auto _ : state) {
    out.clear();
    encode_publish(out, Version::V311, topic, payload, 1, false, false, 4242, nullptr);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}

void BM_ParseFrame(benchmark::State& state) {
  Buffer wire;
  encode(make_publish(1024, false), Version::V311, wire);
  for (auto _ : state) {
    const Frame f = parse_frame(view(wire), 1 << 20);
    benchmark::DoNotOptimize(f);
  }
}

void BM_TopicMatches(benchmark::State& state) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"netpie/app1/gearname/sensor-0042/temperature", "netpie/app1/gearname/sensor-0042/temperature"},
      {"netpie/app1/+/sensor-0042/#", "netpie/app1/gearname/sensor-0042/temperature"},
      {"netpie/app1/#", "netpie/app1/gearname/sensor-0042/temperature"},
      {"netpie/app2/+/sensor-0042/#", "netpie/app1/gearname/sensor-0042/temperature"},
      {"#", "$SYS/broker/clients/connected"},
  };
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& [filter, topic] = cases[i++ % cases.size()];
    benchmark::DoNotOptimize(topic_matches(filter, topic));
  }
}

void BM_IsValidUtf8Topic(benchmark::State& state) {
  const std::string topic =
      "netpie/app1/gearname/\xE0\xB8\x9A\xE0\xB9\x89\xE0\xB8\xB2\xE0\xB8\x99/temperature";
  for (auto _ : state) benchmark::DoNotOptimize(is_valid_topic_name(topic));
}

BENCHMARK(BM_DecodePublish64);
BENCHMARK(BM_DecodePublish64V5Props);
BENCHMARK(BM_DecodePublish1K);
BENCHMARK(BM_DecodeConnect);
BENCHMARK(BM_DecodeSubscribe);
BENCHMARK(BM_DecodePuback);
BENCHMARK(BM_DecodePubrecV5Reason);
BENCHMARK(BM_EncodePublish64);
BENCHMARK(BM_EncodePublish64V5Props);
BENCHMARK(BM_EncodePublishFanOut64);
BENCHMARK(BM_EncodeConnect);
BENCHMARK(BM_EncodeConnack);
BENCHMARK(BM_EncodeSubscribe);
BENCHMARK(BM_EncodeSuback);
BENCHMARK(BM_EncodePuback);
BENCHMARK(BM_EncodePubrecV5Reason);
BENCHMARK(BM_ParseFrame);
BENCHMARK(BM_TopicMatches);
BENCHMARK(BM_IsValidUtf8Topic);

}  // namespace

BENCHMARK_MAIN();
