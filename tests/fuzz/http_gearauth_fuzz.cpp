// libFuzzer target for the small text decoders around the gearauth API: the first byte selects the
// decoder (token reply bodies, endpoint, OAuth2 JSON and queries, Basic credentials, MQTT username
// and credential check, query strings, percent-decoding). Parsers must not crash; builders must
// round-trip whatever their parser accepted.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/http/basic_auth.hpp"
#include "protocols/microgear/credentials.hpp"
#include "protocols/microgear/gearauth.hpp"
#include "protocols/microgear/oauth2.hpp"

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gw::microgear;
  if (size == 0) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 9) {
    case 0:
      if (auto r = parse_rtoken_body(in))
        check(parse_rtoken_body(build_rtoken_body(r.value())).value() == r.value());
      break;
    case 1:
      if (auto r = parse_atoken_body(in)) {
        auto copy = r.value();
        copy.appkey.reset();  // never written
        check(parse_atoken_body(build_atoken_body(copy)).value() == copy);
      }
      break;
    case 2:
      if (auto e = parse_endpoint(in)) check(parse_endpoint(format_endpoint(e.value())).value() == e.value());
      break;
    case 3:
      if (auto r = parse_token_reply(in))
        check(parse_token_reply(build_token_reply(r.value())).value() == r.value());
      break;
    case 4: {
      const auto q = gw::http::parse_query(in);
      (void)parse_authorize_request(q);
      (void)parse_token_request(q);
      (void)parse_callback(in);
      check(gw::http::parse_query(gw::http::build_query(q)) == q);
      break;
    }
    case 5:
      (void)gw::http::parse_basic_auth(in);
      (void)gw::http::parse_auth_param(in);
      break;
    case 6: {
      (void)parse_mqtt_username(in);
      const std::size_t cut = in.find('\n');
      const std::string_view user = in.substr(0, cut);
      const std::string_view pass = cut == std::string_view::npos ? std::string_view{} : in.substr(cut + 1);
      (void)check_mqtt_credentials(user, pass, "T0k3nAbCdEfGh123", "S", "K", "G", 1500000000);
      break;
    }
    case 7:
      check(gw::http::percent_decode(gw::http::percent_encode(in), gw::http::PlusMeans::Space) == in);
      (void)gw::http::percent_decode(in, gw::http::PlusMeans::Plus);
      (void)gw::http::path_segments(in);
      break;
    default:
      (void)token_from_bytes(std::span(reinterpret_cast<const std::uint8_t*>(in.data()), in.size()), 16);
      break;
  }
  return 0;
}
