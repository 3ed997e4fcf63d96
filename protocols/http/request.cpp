// Case-insensitive header lookup for Request (see request.hpp).
#include "protocols/http/request.hpp"

namespace gw::http {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

const std::string* Headers::find(std::string_view name) const {
  for (const Header& h : list_) {
    if (iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::string_view Headers::get(std::string_view name) const {
  const std::string* v = find(name);
  return v ? std::string_view{*v} : std::string_view{};
}

}  // namespace gw::http
