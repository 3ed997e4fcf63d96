// Postboxes (see postbox.hpp). Store entries: "netpie.local/pb/<appid>/<box>/<seq as 16 hex digits>"
// holding "<unix time>\n<tag>\n<message bytes>", so the message may be any bytes.
#include "gateway/netpie/postbox.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "gateway/base/log.hpp"

namespace gw::netpie {

namespace {
constexpr std::size_t kMaxName = 64;
bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}
}  // namespace

const char* to_string(Postboxes::WriteError e) {
  return e == Postboxes::WriteError::Full ? "postbox full" : "postbox message could not be stored";
}

Postboxes::Postboxes(const config::Netpie& cfg, const Clock& clock, TokenStore* store)
    : cfg_(cfg), clock_(clock), store_(store) {}

bool Postboxes::valid_name(std::string_view box) {
  return !box.empty() && box.size() <= kMaxName && printable(box) &&
         box.find_first_of("/+#") == std::string_view::npos;
}

bool Postboxes::valid_tag(std::string_view tag) {
  return tag.size() <= kMaxName && printable(tag);
}

std::string Postboxes::store_key(const std::string& appid, const std::string& box, std::uint64_t seq) const {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(seq));
  return std::string(kStorePrefix) + "pb/" + appid + "/" + box + "/" + hex;
}

std::size_t Postboxes::load(const std::vector<std::pair<std::string, std::string>>& entries) {
  const std::string prefix = std::string(kStorePrefix) + "pb/";
  std::size_t n = 0;
  for (const auto& [k, v] : entries) {
    if (k.compare(0, prefix.size(), prefix) != 0) continue;
    std::string_view rest = std::string_view(k).substr(prefix.size());
    const std::size_t a = rest.find('/');
    const std::size_t b = rest.rfind('/');
    const std::size_t nl1 = v.find('\n');
    const std::size_t nl2 = nl1 == std::string::npos ? std::string::npos : v.find('\n', nl1 + 1);
    std::uint64_t seq = 0;
    std::int64_t ts = 0;
    const bool ok =
        a != std::string_view::npos && b > a && nl2 != std::string::npos &&
        std::from_chars(rest.data() + b + 1, rest.data() + rest.size(), seq, 16).ec == std::errc{} &&
        std::from_chars(v.data(), v.data() + nl1, ts).ec == std::errc{};
    if (!ok) {
      GW_LOG(Warn, "netpie", "ignoring unreadable postbox entry %s", k.c_str());
      continue;
    }
    const std::string appid(rest.substr(0, a));
    const std::string box(rest.substr(a + 1, b - a - 1));
    Entry e{seq, PostboxMessage{v.substr(nl2 + 1), ts, v.substr(nl1 + 1, nl2 - nl1 - 1)}};
    bytes_ += e.m.msg.size();
    next_seq_ = std::max(next_seq_, seq + 1);
    boxes_[box_key(appid, box)].push_back(std::move(e));  // the scan is in key order: oldest first
    ++n;
  }
  return n;
}

void Postboxes::write(const std::string& appid, const std::string& box, std::string msg, std::string tag,
                      WriteDone done) {
  auto& q = boxes_[box_key(appid, box)];
  if (q.size() >= cfg_.postbox_max_messages || bytes_ + msg.size() > cfg_.postbox_max_bytes) {
    if (q.empty()) boxes_.erase(box_key(appid, box));
    done(WriteError::Full);
    return;
  }
  Entry e{next_seq_++, PostboxMessage{std::move(msg), clock_.unix_seconds(), std::move(tag)}};
  bytes_ += e.m.msg.size();
  const std::uint64_t seq = e.seq;
  std::string value = std::to_string(e.m.ts) + "\n" + e.m.tag + "\n" + e.m.msg;
  q.push_back(std::move(e));
  if (!store_) {
    done(std::nullopt);
    return;
  }
  store_->put(store_key(appid, box, seq), std::move(value),
              [this, key = box_key(appid, box), seq, done = std::move(done)](bool ok) {
                if (ok) {
                  done(std::nullopt);
                  return;
                }
                auto it = boxes_.find(key);
                if (it != boxes_.end()) {
                  auto& dq = it->second;
                  auto pos = std::find_if(dq.begin(), dq.end(), [&](const Entry& x) { return x.seq == seq; });
                  if (pos != dq.end()) {
                    bytes_ -= pos->m.msg.size();
                    dq.erase(pos);
                  }
                  if (dq.empty()) boxes_.erase(it);
                }
                done(WriteError::StoreFailed);
              });
}

std::optional<PostboxMessage> Postboxes::read(const std::string& appid, const std::string& box,
                                              std::string_view tag) {
  auto it = boxes_.find(box_key(appid, box));
  if (it == boxes_.end()) return std::nullopt;
  auto& q = it->second;
  auto e = tag.empty() ? q.begin()
                       : std::find_if(q.begin(), q.end(), [&](const Entry& x) { return x.m.tag == tag; });
  if (e == q.end()) return std::nullopt;
  PostboxMessage out = std::move(e->m);
  if (store_) store_->erase(store_key(appid, box, e->seq));
  bytes_ -= out.msg.size();
  q.erase(e);
  if (q.empty()) boxes_.erase(it);
  return out;
}

std::size_t Postboxes::size(const std::string& appid, const std::string& box) const {
  auto it = boxes_.find(box_key(appid, box));
  return it == boxes_.end() ? 0 : it->second.size();
}

}  // namespace gw::netpie
