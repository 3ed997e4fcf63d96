// Percent-encoding and urlencoded pairs (see url_encoding.hpp). Table-free: the character classes are
// small enough to test directly, and the tests pin the full 256-octet behaviour.
#include "protocols/http/url_encoding.hpp"

namespace gw::http {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

void percent_encode_to(std::string_view s, std::string& out) {
  for (char c : s) {
    if (is_unreserved(c)) {
      out.push_back(c);
    } else {
      const auto b = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0x0F]);
    }
  }
}

std::string percent_encode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  percent_encode_to(s, out);
  return out;
}

std::string percent_decode(std::string_view s, PlusMeans plus) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>((hi << 4) | lo));
        i += 2;
        continue;
      }
      out.push_back(c);
    } else if (c == '+' && plus == PlusMeans::Space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Params parse_query(std::string_view s) {
  Params out;
  while (!s.empty()) {
    const std::size_t amp = s.find('&');
    const std::string_view seg = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
    if (seg.empty()) continue;
    const std::size_t eq = seg.find('=');
    if (eq == std::string_view::npos) {
      out.push_back({percent_decode(seg, PlusMeans::Space), {}});
    } else {
      out.push_back({percent_decode(seg.substr(0, eq), PlusMeans::Space),
                     percent_decode(seg.substr(eq + 1), PlusMeans::Space)});
    }
  }
  return out;
}

std::string build_query(const Params& params) {
  std::string out;
  for (const Param& p : params) {
    if (!out.empty()) out.push_back('&');
    percent_encode_to(p.name, out);
    out.push_back('=');
    percent_encode_to(p.value, out);
  }
  return out;
}

const std::string* find_param(const Params& params, std::string_view name) {
  for (const Param& p : params) {
    if (p.name == name) return &p.value;
  }
  return nullptr;
}

std::vector<std::string> path_segments(std::string_view path) {
  std::vector<std::string> out;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return out;
  while (true) {
    const std::size_t slash = path.find('/');
    out.push_back(percent_decode(path.substr(0, slash), PlusMeans::Plus));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace gw::http
