// Percent-encoding (RFC 3986 §2.1, with the OAuth 1.0a rule of RFC 5849 §3.6) and the
// application/x-www-form-urlencoded pairs used by query strings, form bodies and NETPIE token replies.
// Pure string functions: nothing here allocates beyond its result, and nothing fails on bad input —
// decoding is tolerant because embedded NETPIE clients send values they never encoded
// (docs/netpie-protocol.md §3.2).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gw::http {

struct Param {
  std::string name;
  std::string value;
  bool operator==(const Param&) const = default;
};
// Ordered name/value pairs; order is the wire order and duplicates are kept.
using Params = std::vector<Param>;

// True for the RFC 3986 §2.3 unreserved set: ALPHA / DIGIT / "-" / "." / "_" / "~".
bool is_unreserved(char c);

// RFC 5849 §3.6: unreserved characters stay, every other octet becomes %XX with upper-case hex
// (the ESP8266 microgear decodes only upper-case hex digits, docs/netpie-protocol.md §3.3). A space is %20,
// never '+'.
std::string percent_encode(std::string_view s);
void percent_encode_to(std::string_view s, std::string& out);

// Whether '+' stands for a space: yes in form bodies and query strings (WHATWG urlencoded), no in
// OAuth header values and URL paths, where '+' is an ordinary character.
enum class PlusMeans { Plus, Space };

// Tolerant decoding: %XX with hex digits of either case becomes the octet; a '%' that is not followed
// by two hex digits is kept literally. Never fails.
std::string percent_decode(std::string_view s, PlusMeans plus = PlusMeans::Plus);

// Splits "a=1&b=&c&a=2" into ordered pairs, decoding names and values with '+' as space. Empty
// segments ("a=1&&b=2") are skipped; a segment without '=' gives an empty value.
Params parse_query(std::string_view s);

// The inverse: name=value pairs joined by '&', both sides percent_encode()d.
std::string build_query(const Params& params);

// First value for `name` (exact, case-sensitive match), or null.
const std::string* find_param(const Params& params, std::string_view name);

// Splits an encoded path ("/topic/app/a%2Fb") into decoded segments {"topic","app","a/b"}; empty
// segments from doubled or trailing slashes are kept so callers can reject them.
std::vector<std::string> path_segments(std::string_view path);

}  // namespace gw::http
