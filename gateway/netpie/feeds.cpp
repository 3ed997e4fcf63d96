// Feed handlers (see feeds.hpp). Errors are {"code","message"} with 400 (bad input, a query over its
// bounds), 401 (apikey missing or wrong), 404 (no such feed), 405, 503 (no store) and 507 (the store is
// full); the microgear gets the same text as `@error`.
#include "gateway/netpie/feeds.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"
#include "gateway/netpie/rest.hpp"
#include "protocols/http/url_encoding.hpp"
#include "protocols/microgear/feed_format.hpp"

namespace gw::netpie {

namespace {

using nlohmann::json;
constexpr std::string_view kFeedTopic = "/@writefeed/";
// A timestamp may run ahead of our clock by at most this (a device's clock a little fast), never more.
constexpr std::int64_t kMaxFutureMs = 24ll * 3600 * 1000;
// Timestamps are JavaScript-safe integers (the datasource reads them as numbers).
constexpr std::int64_t kMaxTimestampMs = (1ll << 53) - 1;

// A non-negative decimal integer of at most 16 digits.
std::optional<std::int64_t> parse_ms(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

std::optional<storage::FeedAggregate> parse_aggregate(std::string_view s) {
  if (s == "avg") return storage::FeedAggregate::Avg;
  if (s == "min") return storage::FeedAggregate::Min;
  if (s == "max") return storage::FeedAggregate::Max;
  if (s == "sum") return storage::FeedAggregate::Sum;
  if (s == "count") return storage::FeedAggregate::Count;
  return std::nullopt;
}

bool has_key(const config::NetpieFeed& f, std::string_view apikey) {
  return std::find(f.api_keys.begin(), f.api_keys.end(), apikey) != f.api_keys.end();
}

std::string unit_of(const config::NetpieFeed& f, std::string_view field) {
  for (const auto& d : f.fields) {
    if (d.name == field) return d.unit;
  }
  return "";
}

// A store failure as the HTTP status the writer is told (storage/README.md "Failures").
int status_for(storage::Status s) {
  switch (s) {
    case storage::Status::QuotaExceeded:
      return 400;  // the feed would pass max_fields_per_feed
    case storage::Status::DiskFull:
      return 507;
    default:
      return 503;
  }
}

std::string store_refusal(storage::Status s, std::uint32_t max_fields) {
  if (s == storage::Status::QuotaExceeded) {
    return "the feed would hold more than " + std::to_string(max_fields) +
           " fields (store.feeds.max_fields_per_feed); nothing was written";
  }
  return "not stored: " + std::string(storage::to_string(s));
}

// The write's values in the order written (ordered_json: nlohmann's json would sort the keys).
nlohmann::ordered_json relay_payload(const std::vector<microgear::FieldValue>& values) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& v : values) j[v.field] = v.value;
  return j;
}

storage::FeedWrite feed_write(const std::string& feed, std::int64_t ts,
                              const std::vector<microgear::FieldValue>& values) {
  storage::FeedWrite w;
  w.feed = feed;
  w.ts_ms = ts;
  for (const auto& v : values) w.values.push_back(storage::FeedValue{v.field, v.value});
  return w;
}

}  // namespace

Feeds::Feeds(const config::Netpie& cfg, const Clock& clock) : cfg_(cfg), clock_(clock) {}

std::int64_t Feeds::stamp(const std::string& feed) {
  std::int64_t& last = last_stamp_[feed];
  last = std::max(clock_.unix_ms(), last + 1);
  return last;
}

const config::NetpieFeed* Feeds::find(std::string_view id, const config::NetpieApp** app) const {
  for (const auto& a : cfg_.apps) {
    for (const auto& f : a.feeds) {
      if (f.id == id) {
        if (app) *app = &a;
        return &f;
      }
    }
  }
  return nullptr;
}

bool Feeds::handle(const http::Request& req, const net::HttpResponder& out) {
  const auto seg = http::path_segments(req.path);
  if (seg.empty() || seg[0] != "feed") return false;
  const bool put = req.method == "PUT" || req.method == "POST";
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (!put && !get) {
    http::Response r = rest_status(405, "method not allowed; use GET, PUT");
    r.headers.add("Allow", "GET, PUT");
    out.respond(std::move(r));
    return true;
  }
  if (seg.size() != 2 || !microgear::valid_feed_id(seg[1])) {
    out.respond(rest_status(400, "expected /feed/<feedid>"));
    return true;
  }
  const config::NetpieApp* app = nullptr;
  const config::NetpieFeed* feed = find(seg[1], &app);
  if (feed == nullptr) {
    out.respond(rest_status(404, "no feed " + seg[1]));
    return true;
  }
  // The api key may come in the query or, for a write, in the form body beside data= (§9.2).
  const http::Params body = put ? http::parse_query(req.body) : http::Params{};
  const std::string* apikey = http::find_param(req.query_params, "apikey");
  if (apikey == nullptr) apikey = http::find_param(body, "apikey");
  if (apikey == nullptr || apikey->empty()) {
    out.respond(rest_status(401, "apikey required: /feed/" + feed->id + "?apikey=<key>"));
    return true;
  }
  if (!has_key(*feed, *apikey)) {
    GW_LOG(Info, "netpie", "feed %s: %s from %s with a wrong apikey", feed->id.c_str(), req.method.c_str(),
           out.peer().address.c_str());
    out.respond(rest_status(401, "wrong apikey for feed " + feed->id));
    return true;
  }
  if (store_ == nullptr || broker_ == nullptr) {
    out.respond(rest_status(503, "feeds need the store (store.enabled)"));
    return true;
  }
  if (put) {
    write(*app, *feed, *apikey, req, out);
  } else {
    read(*feed, req, out);
  }
  return true;
}

void Feeds::write(const config::NetpieApp& app, const config::NetpieFeed& feed, const std::string& apikey,
                  const http::Request& req, const net::HttpResponder& out) {
  const http::Params body = http::parse_query(req.body);
  auto param = [&](std::string_view name) {
    const std::string* v = http::find_param(body, name);
    return v ? v : http::find_param(req.query_params, name);
  };
  const std::string* data = param("data");
  if (data == nullptr) {
    out.respond(rest_status(400, "data=<field>:<number>,... required (form body or query)"));
    return;
  }
  const std::uint32_t max_fields = store_->options().feeds.max_fields_per_feed;
  auto values = microgear::parse_feed_values(*data, max_fields);
  if (!values) {
    out.respond(rest_status(400, "data: " + values.error()));
    return;
  }
  const std::int64_t now = clock_.unix_ms();
  std::int64_t ts = 0;
  if (const std::string* t = param("timestamp"); t != nullptr && !t->empty()) {
    auto parsed = parse_ms(*t);
    if (!parsed || *parsed > std::min(now + kMaxFutureMs, kMaxTimestampMs)) {
      out.respond(rest_status(400, "timestamp: expected unix milliseconds, not later than a day from now"));
      return;
    }
    ts = *parsed;
  } else {
    ts = stamp(feed.id);
  }
  auto relay = std::make_shared<broker::Message>();
  relay->topic = "/" + app.appid + std::string(kFeedTopic) + feed.id + "/" + apikey;
  relay->payload = relay_payload(*values).dump();
  relay->qos = 1;
  relay->sender = std::make_shared<const std::string>("rest:feed/" + feed.id);
  const std::size_t n = values->size();
  auto done = [this, out, relay, max_fields, ts, n](storage::Status s) {
    if (s != storage::Status::Ok) {
      out.respond(rest_status(status_for(s), store_refusal(s, max_fields)));
      return;
    }
    // Durable locally: now it goes where messages go (subscribers, an uplink's up rule), and the answer
    // waits for the outbox row too, so "200" means the cloud will get it once the link is there.
    auto* persistence = broker_->persistence();
    auto ticket = std::make_shared<broker::Broker::PublishTicket>();
    if (persistence) broker_->set_current_ticket(ticket);
    broker_->publish(relay);
    broker_->set_current_ticket(nullptr);
    auto ok = [out, ts, n] {
      out.respond(
          json_response(200, json{{"code", 200}, {"message", "Success"}, {"timestamp", ts}, {"points", n}}));
    };
    if (!persistence || !persistence->dirty()) {
      ok();
      return;
    }
    persistence->barrier([out, ticket, ok](mqtt::Reason r) {
      if (r == mqtt::Reason::Success && ticket->reason == mqtt::Reason::Success) {
        ok();
      } else {
        out.respond(rest_status(507, "stored locally, but the outbox refused the relay message"));
      }
    });
  };
  const storage::Status st = store_->feed_write(feed_write(feed.id, ts, *values), std::move(done));
  if (st != storage::Status::Ok)
    out.respond(rest_status(503, "store busy: " + std::string(storage::to_string(st))));
}

void Feeds::read(const config::NetpieFeed& feed, const http::Request& req, const net::HttpResponder& out) {
  const auto& p = req.query_params;
  const storage::FeedOptions& bounds = store_->options().feeds;
  const std::int64_t now = clock_.unix_ms();
  storage::FeedQuery q;
  q.feed = feed.id;
  q.to_ms = now;
  q.from_ms = now - 24ll * 3600 * 1000;  // no since/from: the last day
  if (const std::string* from = http::find_param(p, "from")) {
    auto v = parse_ms(*from);
    if (!v) {
      out.respond(rest_status(400, "from: expected unix milliseconds"));
      return;
    }
    q.from_ms = *v;
  } else if (const std::string* since = http::find_param(p, "since")) {
    auto d = microgear::parse_duration(*since);
    if (!d) {
      out.respond(rest_status(400, "since: " + d.error()));
      return;
    }
    if (d->ms() > now) {
      out.respond(rest_status(400, "since: " + *since + " reaches back before 1970"));
      return;
    }
    q.from_ms = now - d->ms();
  }
  if (const std::string* to = http::find_param(p, "to")) {
    auto v = parse_ms(*to);
    if (!v || *v > kMaxTimestampMs) {
      out.respond(rest_status(400, "to: expected unix milliseconds"));
      return;
    }
    q.to_ms = *v;
  }
  if (q.to_ms < q.from_ms) {
    out.respond(rest_status(400, "the range is empty: to is before from"));
    return;
  }
  std::optional<microgear::Duration> granularity;
  if (const std::string* g = http::find_param(p, "granularity")) {
    auto d = microgear::parse_duration(*g);
    if (!d) {
      out.respond(rest_status(400, "granularity: " + d.error()));
      return;
    }
    granularity = *d;
    q.granularity_ms = d->ms();
    // Buckets are whole: the count is known before anything is read.
    const std::int64_t first = q.from_ms - q.from_ms % q.granularity_ms;
    const std::int64_t buckets = (q.to_ms - first) / q.granularity_ms + 1;
    if (buckets > static_cast<std::int64_t>(bounds.max_query_points)) {
      out.respond(rest_status(400, "the range holds " + std::to_string(buckets) + " buckets of " + *g +
                                       ", more than " + std::to_string(bounds.max_query_points) +
                                       " (store.feeds.max_query_points): narrow the range or coarsen the "
                                       "granularity"));
      return;
    }
  }
  if (const std::string* a = http::find_param(p, "aggregate")) {
    auto agg = parse_aggregate(*a);
    if (!agg) {
      out.respond(rest_status(400, "aggregate: expected avg, min, max, sum or count"));
      return;
    }
    if (!granularity) {
      out.respond(rest_status(400, "aggregate needs a granularity (e.g. granularity=10minute)"));
      return;
    }
    q.aggregate = *agg;
  }
  if (const std::string* f = http::find_param(p, "filter"); f != nullptr && !f->empty()) {
    std::string_view rest = *f;
    while (true) {
      const std::size_t comma = rest.find(',');
      const std::string_view name = rest.substr(0, comma);
      if (!microgear::valid_feed_field(name)) {
        out.respond(rest_status(400, "filter: bad field name '" + std::string(name.substr(0, 64)) + "'"));
        return;
      }
      if (std::find(q.fields.begin(), q.fields.end(), name) == q.fields.end()) q.fields.emplace_back(name);
      if (q.fields.size() > bounds.max_fields_per_feed) {
        out.respond(rest_status(400, "filter: more than " + std::to_string(bounds.max_fields_per_feed) +
                                         " fields (store.feeds.max_fields_per_feed)"));
        return;
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  } else {
    // The configured fields first, in their order; fields written without a declaration follow.
    for (const auto& d : feed.fields) q.fields.push_back(d.name);
    q.and_others = true;
  }
  const std::string aggregate = http::find_param(p, "aggregate") ? *http::find_param(p, "aggregate") : "avg";
  auto done = [out, feed_id = feed.id, units = feed, granularity, from = q.from_ms, to = q.to_ms, aggregate,
               bounds](Result<storage::FeedResult, storage::Status> r) {
    if (!r) {
      out.respond(rest_status(503, "query failed: " + std::string(storage::to_string(r.error()))));
      return;
    }
    if (r->too_many) {
      out.respond(rest_status(
          400,
          "the query would read more than " + std::to_string(bounds.max_query_rows) +
              " stored rows (store.feeds.max_query_rows) or answer more than " +
              std::to_string(bounds.max_query_points) +
              " points (store.feeds.max_query_points): narrow the range or give a coarser granularity (a "
              "multiple of 1 minute or 1 hour reads the rollups)"));
      return;
    }
    json data = json::array();
    json latest = json::array();
    for (const auto& s : r->series) {
      json values = json::array();
      for (const auto& [t, v] : s.values) values.push_back(json::array({t, v}));
      const std::string unit = unit_of(units, s.field);
      data.push_back(json{{"attr", s.field}, {"unit", unit}, {"values", std::move(values)}});
      latest.push_back(json{{"attr", s.field},
                            {"unit", unit},
                            {"values", json::array({json::array({s.latest.first, s.latest.second})})}});
    }
    json body{{"feedid", feed_id},
              {"data", std::move(data)},
              {"lastest_data", std::move(latest)},
              {"from", from},
              {"to", to}};
    if (granularity) {
      body["granularity"] = json::array({granularity->count, microgear::unit_plural(granularity->unit)});
      body["aggregate"] = aggregate;
    }
    out.respond(json_response(200, body));
  };
  const storage::Status st = store_->feed_query(std::move(q), std::move(done));
  if (st != storage::Status::Ok)
    out.respond(rest_status(503, "store busy: " + std::string(storage::to_string(st))));
}

bool Feeds::microgear_write(broker::Connection& c, const Gear& g, std::string_view args,
                            const broker::MessagePtr& m) {
  auto refuse = [&](const std::string& why) {
    auto e = std::make_shared<broker::Message>();
    e->topic = "@error";
    e->payload = "writefeed: " + why;
    c.deliver_direct(e, 0);
    return true;
  };
  const std::size_t slash = args.find('/');
  const std::string_view id = args.substr(0, slash);
  const std::string_view apikey =
      slash == std::string_view::npos ? std::string_view() : args.substr(slash + 1);
  const config::NetpieApp* app = nullptr;
  const config::NetpieFeed* feed = microgear::valid_feed_id(id) ? find(id, &app) : nullptr;
  if (feed == nullptr) return refuse("no feed " + std::string(id.substr(0, 64)));
  // Without an api key the writer's app must own the feed (docs/netpie-protocol.md §7.3).
  if (apikey.empty() ? app->appid != g.appid : !has_key(*feed, apikey)) {
    return refuse(apikey.empty() ? "feed " + feed->id + " belongs to another app: give its apikey"
                                 : "wrong apikey for feed " + feed->id);
  }
  if (store_ == nullptr || broker_ == nullptr) return refuse("feeds need the store (store.enabled)");
  const std::uint32_t max_fields = store_->options().feeds.max_fields_per_feed;
  auto values = microgear::parse_feed_values(m->payload, max_fields);
  if (!values) return refuse(values.error());
  // The acknowledgement of a QoS 1/2 write waits for this point's commit (the broker's barrier covers it),
  // and learns of its failure through the PUBLISH's ticket.
  std::shared_ptr<broker::Broker::PublishTicket> ticket = broker_->current_ticket();
  const std::uint64_t conn = c.id();
  auto done = [b = broker_, conn, ticket, max_fields, feed_id = feed->id](storage::Status s) {
    if (s == storage::Status::Ok) return;
    if (ticket && ticket->reason == mqtt::Reason::Success) ticket->reason = broker::reason_for(s);
    GW_LOG(Info, "netpie", "feed %s: a microgear's point was not stored: %s", feed_id.c_str(),
           std::string(storage::to_string(s)).c_str());
    if (broker::Connection* to = b->connection_by_id(conn)) {
      auto e = std::make_shared<broker::Message>();
      e->topic = "@error";
      e->payload = "writefeed: " + store_refusal(s, max_fields);
      to->deliver_direct(e, 0);
    }
  };
  const storage::Status st =
      store_->feed_write(feed_write(feed->id, stamp(feed->id), *values), std::move(done));
  if (st != storage::Status::Ok) return refuse("store busy: " + std::string(storage::to_string(st)));
  if (auto* persistence = broker_->persistence()) persistence->note_write(st);
  return false;
}

}  // namespace gw::netpie
