// Level-by-level matching of a topic filter against a topic name.
#include "storage/topic_filter.hpp"

namespace gw::storage {

bool has_wildcard(std::string_view f) {
  return f.find_first_of("+#") != std::string_view::npos;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#'))
    return false;  // MQTT 5.0 §4.7.2
  std::size_t f = 0;
  std::size_t t = 0;
  while (true) {
    std::size_t fe = filter.find('/', f);
    std::string_view flevel =
        filter.substr(f, fe == std::string_view::npos ? std::string_view::npos : fe - f);
    if (flevel == "#") return true;
    std::size_t te = topic.find('/', t);
    std::string_view tlevel = topic.substr(t, te == std::string_view::npos ? std::string_view::npos : te - t);
    if (flevel != "+" && flevel != tlevel) return false;
    bool f_last = fe == std::string_view::npos;
    bool t_last = te == std::string_view::npos;
    if (f_last && t_last) return true;
    if (f_last) return false;
    if (t_last) {
      // Topic ended: match only if the rest of the filter is exactly "#".
      return filter.substr(fe + 1) == "#";
    }
    f = fe + 1;
    t = te + 1;
  }
}

}  // namespace gw::storage
