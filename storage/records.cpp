// Names of the policy enums (as they appear in the YAML config), the destination name rule and the
// id-range helper.
#include "storage/records.hpp"

#include <algorithm>

namespace gw::storage {

std::optional<FullPolicy> parse_full_policy(std::string_view name) {
  if (name == "reject_new") return FullPolicy::RejectNew;
  if (name == "drop_oldest") return FullPolicy::DropOldest;
  return std::nullopt;
}

std::string_view to_string(FullPolicy p) {
  return p == FullPolicy::RejectNew ? "reject_new" : "drop_oldest";
}

std::string_view to_string(DropReason r) {
  switch (r) {
    case DropReason::RejectedFull:
      return "rejected_full";
    case DropReason::OldestRows:
      return "dropped_oldest_rows";
    case DropReason::OldestBytes:
      return "dropped_oldest_bytes";
    case DropReason::Expired:
      return "expired";
    case DropReason::QuotaOldest:
      return "quota_dropped_oldest";
    case DropReason::QuotaAge:
      return "quota_expired";
    case DropReason::QuotaRejected:
      return "quota_rejected";
    case DropReason::MessageExpired:
      return "message_expired";
  }
  return "?";
}

bool valid_dest(std::string_view dest) {
  if (dest.size() > kMaxDestLength) return false;
  return std::all_of(dest.begin(), dest.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::vector<IdRange> to_ranges(std::vector<std::uint64_t> ids) {
  std::sort(ids.begin(), ids.end());
  std::vector<IdRange> out;
  for (std::uint64_t id : ids) {
    if (!out.empty() && id <= out.back().last + 1) {
      out.back().last = std::max(out.back().last, id);
    } else {
      out.push_back(IdRange{id, id});
    }
  }
  return out;
}

}  // namespace gw::storage
