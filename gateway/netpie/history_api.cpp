// GET /history (see history_api.hpp). Times: `since` and `until` are unix milliseconds or a duration
// back from now (`24hour`, as for feeds); the store keeps seconds, so a message's `time` is its second
// in ms. A payload that is not UTF-8 travels as `payload_base64`.
#include "gateway/netpie/history_api.hpp"

#include <nlohmann/json.hpp>

#include "gateway/netpie/rest.hpp"
#include "gateway/netpie/rights.hpp"
#include "protocols/http/basic_auth.hpp"
#include "protocols/http/url_encoding.hpp"
#include "protocols/microgear/crypto.hpp"
#include "protocols/microgear/feed_format.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::netpie {

namespace {

using nlohmann::json;
constexpr std::string_view kPrefix = "/history/";
constexpr std::uint32_t kDefaultLimit = 100;

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// Unix ms, or a duration back from `now_ms`; answered in unix seconds (what the store keeps).
std::optional<std::int64_t> parse_time(const std::string& s, std::int64_t now_ms, std::string& why) {
  if (auto ms = parse_u64(s)) return static_cast<std::int64_t>(*ms / 1000);
  auto d = microgear::parse_duration(s);
  if (!d) {
    why = "expected unix milliseconds or a duration such as 24hour (" + d.error() + ")";
    return std::nullopt;
  }
  return (now_ms - d->ms()) / 1000;
}

std::string csv_field(std::string_view s) {
  // RFC 4180 §2: quoted when it holds a comma, a quote or a line break; quotes doubled.
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

bool HistoryApi::handle(const http::Request& req, const net::HttpResponder& out) {
  if (req.path.compare(0, kPrefix.size(), kPrefix) != 0 && req.path != "/history") return false;
  if (req.method != "GET" && req.method != "HEAD") {
    http::Response r = rest_status(405, "method not allowed; use GET");
    r.headers.add("Allow", "GET");
    out.respond(std::move(r));
    return true;
  }
  // The filter is the rest of the path, decoded: "/history//farm/sensors/%23" is "/farm/sensors/#".
  const std::string filter =
      req.path.size() > kPrefix.size()
          ? http::percent_decode(std::string_view(req.path).substr(kPrefix.size()), http::PlusMeans::Plus)
          : std::string();
  if (filter.empty() || !mqtt::is_valid_filter(filter) || mqtt::parse_shared(filter)) {
    out.respond(rest_status(400, "expected /history/<topic filter> with + and # percent-encoded (%2B, %23)"));
    return true;
  }
  const Key* key = nullptr;
  if (auto cred = http::request_credentials(req)) {
    key = registry_.key(cred->key);
    if (key == nullptr || !secret_matches(key->secret, cred->secret) || !key->enabled) {
      out.respond(rest_status(401, "wrong key or secret"));
      return true;
    }
    if (!filter_covers_any(key->rights.subscribe, filter)) {
      out.respond(rest_status(403, "the key may not read " + filter));
      return true;
    }
  } else if (!out.peer().loopback) {
    http::Response r = rest_status(401, "credentials required: Basic KEY:SECRET or ?auth=KEY:SECRET");
    r.headers.add("WWW-Authenticate", "Basic realm=\"netpie-edge\"");
    out.respond(std::move(r));
    return true;
  }
  if (store_ == nullptr) {
    out.respond(rest_status(503, "history needs the store (store.enabled)"));
    return true;
  }
  const storage::HistoryOptions& bounds = store_->options().history;
  if (bounds.filters.empty()) {
    out.respond(rest_status(404, "no history is kept: store.history.filters is empty"));
    return true;
  }
  const auto& p = req.query_params;
  storage::HistoryQuery q;
  q.topic = filter;
  q.limit = std::min(kDefaultLimit, bounds.max_page_rows);
  if (const std::string* l = http::find_param(p, "limit")) {
    auto v = parse_u64(*l);
    if (!v || *v == 0 || *v > bounds.max_page_rows) {
      out.respond(rest_status(400, "limit: expected 1 to " + std::to_string(bounds.max_page_rows) +
                                       " (store.history.max_page_rows)"));
      return true;
    }
    q.limit = static_cast<std::uint32_t>(*v);
  }
  if (const std::string* a = http::find_param(p, "after_seq")) {
    auto v = parse_u64(*a);
    if (!v || *v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      out.respond(rest_status(400, "after_seq: expected the next_after_seq of the previous page"));
      return true;
    }
    q.from_seq = *v;
  }
  const std::int64_t now = clock_.unix_ms();
  for (const char* name : {"since", "until"}) {
    if (const std::string* t = http::find_param(p, name)) {
      std::string why;
      auto v = parse_time(*t, now, why);
      if (!v) {
        out.respond(rest_status(400, std::string(name) + ": " + why));
        return true;
      }
      (std::string_view(name) == "since" ? q.from_unix : q.to_unix) = *v;
    }
  }
  const bool csv = req.headers.get("Accept").find("text/csv") != std::string_view::npos;
  std::vector<std::string> rights;
  if (key != nullptr) rights = key->rights.subscribe;
  auto done = [out, csv, filter, rights,
               limited = key != nullptr](Result<storage::HistoryPage, storage::Status> r) {
    if (!r) {
      out.respond(rest_status(503, "query failed: " + std::string(storage::to_string(r.error()))));
      return;
    }
    http::Response resp;
    resp.status = 200;
    resp.headers.add("X-Next-After-Seq", std::to_string(r->last_seq));
    resp.headers.add("X-More", r->more ? "true" : "false");
    std::string body;
    json messages = json::array();
    if (csv) body = "seq,time,topic,qos,payload\r\n";
    for (const auto& rec : r->records) {
      if (limited && !covered_topic(rights, rec.msg.topic)) continue;
      const bool text = mqtt::is_valid_utf8(rec.msg.payload);
      const std::string payload =
          text ? rec.msg.payload
               : microgear::base64_encode(reinterpret_cast<const std::uint8_t*>(rec.msg.payload.data()),
                                          rec.msg.payload.size());
      if (csv) {
        body += std::to_string(rec.seq) + "," + std::to_string(rec.stored_unix * 1000) + "," +
                csv_field(rec.msg.topic) + "," + std::to_string(rec.msg.qos) + "," +
                csv_field(text ? payload : "base64:" + payload) + "\r\n";
        continue;
      }
      json m{
          {"seq", rec.seq}, {"time", rec.stored_unix * 1000}, {"topic", rec.msg.topic}, {"qos", rec.msg.qos}};
      m[text ? "payload" : "payload_base64"] = payload;
      messages.push_back(std::move(m));
    }
    if (csv) {
      resp.content_type = "text/csv; charset=utf-8";
      resp.body = std::move(body);
    } else {
      resp.content_type = "application/json";
      resp.body = json{
          {"filter", filter},
          {"messages", std::move(messages)},
          {"next_after_seq", r->last_seq},
          {"more",
           r->more}}.dump(-1, ' ', false, json::error_handler_t::replace);
    }
    out.respond(std::move(resp));
  };
  const storage::Status st = store_->history_page(std::move(q), bounds.max_scan_rows, std::move(done));
  if (st != storage::Status::Ok)
    out.respond(rest_status(503, "store busy: " + std::string(storage::to_string(st))));
  return true;
}

}  // namespace gw::netpie
