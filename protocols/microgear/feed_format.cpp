// Implementation of the feed wire formats. One scanner reads all three write forms: an optional
// brace, then `key : value` pairs separated by commas, a key quoted or bare, a value a decimal number,
// bare or quoted. Numbers are checked by hand before strtod, which would also take hex, "inf" and "nan".
#include "protocols/microgear/feed_format.hpp"

#include <array>
#include <cmath>
#include <cstdlib>

namespace gw::microgear {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > kMaxFeedFieldName) return false;
  for (char c : s) {
    if (!name_char(c)) return false;
  }
  return true;
}

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// A decimal number as JSON writes it, with a leading '+' and a bare leading '.' forgiven (Arduino's
// String(float) and hand-written payloads).
bool parse_number(std::string_view s, double& out) {
  if (s.empty() || s.size() > 64) return false;
  std::size_t i = 0;
  if (s[i] == '+' || s[i] == '-') ++i;
  std::size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exp = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++exp;
    if (exp == 0) return false;
  }
  if (i != s.size()) return false;
  const std::string copy(s);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size() && std::isfinite(out);
}

std::string shown(std::string_view s) {
  constexpr std::size_t kShow = 32;
  return "'" + std::string(s.substr(0, kShow)) + (s.size() > kShow ? "...'" : "'");
}

}  // namespace

bool valid_feed_field(std::string_view name) {
  return valid_name(name);
}

bool valid_feed_id(std::string_view id) {
  return valid_name(id);
}

Result<std::vector<FieldValue>, std::string> parse_feed_values(std::string_view text,
                                                               std::size_t max_fields) {
  std::vector<FieldValue> out;
  std::size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && space(text[i])) ++i;
  };
  skip();
  const bool braced = i < text.size() && text[i] == '{';
  if (braced) ++i;
  while (true) {
    skip();
    if (i >= text.size() || (braced && text[i] == '}')) {
      if (out.empty()) return unexpected(std::string("no values: expected field:number pairs"));
      return unexpected(std::string("a field:number pair expected after ','"));
    }
    // The key.
    std::string_view key;
    if (text[i] == '"') {
      const std::size_t close = text.find('"', i + 1);
      if (close == std::string_view::npos) return unexpected(std::string("unterminated field name"));
      key = text.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const std::size_t start = i;
      while (i < text.size() && name_char(text[i])) ++i;
      key = text.substr(start, i - start);
    }
    if (!valid_name(key)) {
      return unexpected("bad field name " + shown(key) + ": 1 to 64 of A-Z a-z 0-9 _ . -");
    }
    skip();
    if (i >= text.size() || text[i] != ':') return unexpected("expected ':' after field " + shown(key));
    ++i;
    skip();
    // The value.
    std::string_view raw;
    if (i < text.size() && text[i] == '"') {
      const std::size_t close = text.find('"', i + 1);
      if (close == std::string_view::npos) return unexpected("unterminated value of field " + shown(key));
      raw = text.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const std::size_t start = i;
      while (i < text.size() && text[i] != ',' && text[i] != '}' && !space(text[i])) ++i;
      raw = text.substr(start, i - start);
    }
    double v = 0;
    if (!parse_number(raw, v)) {
      return unexpected("value of field " + shown(key) + " is not a number: " + shown(raw));
    }
    for (const FieldValue& seen : out) {
      if (seen.field == key) return unexpected("field " + shown(key) + " given twice");
    }
    if (out.size() >= max_fields) {
      return unexpected("more than " + std::to_string(max_fields) + " fields in one write");
    }
    out.push_back(FieldValue{std::string(key), v});
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (braced) {
      if (i >= text.size() || text[i] != '}')
        return unexpected(std::string("expected ',' or '}' after a value"));
      ++i;
      skip();
      if (i != text.size()) return unexpected(std::string("text after '}'"));
      return out;
    }
    if (i != text.size()) return unexpected(std::string("expected ',' between field:number pairs"));
    return out;
  }
}

std::int64_t unit_ms(TimeUnit u) {
  switch (u) {
    case TimeUnit::Second:
      return 1000;
    case TimeUnit::Minute:
      return 60'000;
    case TimeUnit::Hour:
      return 3'600'000;
    case TimeUnit::Day:
      return 86'400'000;
    case TimeUnit::Month:
      return 30ll * 86'400'000;
    case TimeUnit::Year:
      return 12ll * 30 * 86'400'000;
  }
  return 1000;
}

std::string_view unit_plural(TimeUnit u) {
  switch (u) {
    case TimeUnit::Second:
      return "seconds";
    case TimeUnit::Minute:
      return "minutes";
    case TimeUnit::Hour:
      return "hours";
    case TimeUnit::Day:
      return "days";
    case TimeUnit::Month:
      return "months";
    case TimeUnit::Year:
      return "years";
  }
  return "seconds";
}

std::int64_t Duration::ms() const {
  return count * unit_ms(unit);
}

Result<Duration, std::string> parse_duration(std::string_view text) {
  std::size_t i = 0;
  std::int64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    n = n * 10 + (text[i] - '0');
    if (n > 1'000'000) return unexpected("duration " + shown(text) + " is over 1000000 units");
    ++i;
  }
  if (i == 0 || n == 0)
    return unexpected("duration " + shown(text) + ": expected <n><unit>, n from 1, e.g. 24hour");
  std::string_view unit = text.substr(i);
  if (unit.size() > 1 && unit.back() == 's') unit.remove_suffix(1);
  constexpr std::array<std::pair<std::string_view, TimeUnit>, 6> kUnits{{{"second", TimeUnit::Second},
                                                                         {"minute", TimeUnit::Minute},
                                                                         {"hour", TimeUnit::Hour},
                                                                         {"day", TimeUnit::Day},
                                                                         {"month", TimeUnit::Month},
                                                                         {"year", TimeUnit::Year}}};
  for (auto [name, u] : kUnits) {
    if (unit == name) return Duration{n, u};
  }
  return unexpected("duration " + shown(text) + ": unit must be second, minute, hour, day, month or year");
}

}  // namespace gw::microgear
