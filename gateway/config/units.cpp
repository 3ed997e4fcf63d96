// Decimal integers and byte sizes as the config file spells them. Binary units (KiB, MiB, ...) are
// powers of 1024 and decimal units (KB, MB, ...) powers of 1000, as IEC 80000-13 defines them.
#include "gateway/config/units.hpp"

#include <array>
#include <cctype>
#include <charconv>

namespace gw::config {
namespace {

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};
constexpr std::uint64_t kKi = 1024;
constexpr std::array<Unit, 9> kUnits{{
    {"b", 1},
    {"kb", 1000},
    {"mb", 1000ull * 1000},
    {"gb", 1000ull * 1000 * 1000},
    {"tb", 1000ull * 1000 * 1000 * 1000},
    {"kib", kKi},
    {"mib", kKi* kKi},
    {"gib", kKi* kKi* kKi},
    {"tib", kKi* kKi* kKi* kKi},
}};

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != static_cast<unsigned char>(b[i])) return false;
  }
  return true;
}

}  // namespace

std::optional<std::uint64_t> parse_uint(std::string_view text) {
  // from_chars on an unsigned type takes digits only: no sign, no leading spaces, no "0x".
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<std::uint64_t> parse_byte_size(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto number = parse_uint(text.substr(0, digits));
  if (!number) return std::nullopt;
  std::string_view unit = text.substr(digits);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  if (unit.empty()) {
    if (digits != text.size()) return std::nullopt;  // trailing spaces without a unit
    return number;
  }
  for (const Unit& u : kUnits) {
    if (!iequals(unit, u.name)) continue;
    if (*number > UINT64_MAX / u.factor) return std::nullopt;
    return *number * u.factor;
  }
  return std::nullopt;
}

std::string format_byte_size(std::uint64_t bytes) {
  static constexpr std::array<Unit, 4> kBinary{{
      {"TiB", kKi * kKi * kKi * kKi},
      {"GiB", kKi * kKi * kKi},
      {"MiB", kKi * kKi},
      {"KiB", kKi},
  }};
  if (bytes != 0) {
    for (const Unit& u : kBinary) {
      if (bytes % u.factor == 0) return std::to_string(bytes / u.factor) + std::string(u.name);
    }
  }
  return std::to_string(bytes);
}

}  // namespace gw::config
