// NETPIE feeds on the local endpoint (docs/netpie-feeds.md; docs/netpie-protocol.md §7.3, §9.2): feeds
// are configured per app (netpie.apps[].feeds: id, api keys, field units) and kept in the store's feed
// tables (storage/README.md "Feeds").
//   write: microgear `/<appid>/@writefeed/<feedid>[/<apikey>]` (JSON object of numbers, or the ESP8266
//          unquoted-key form) and REST `PUT /feed/<feedid>?apikey=` with `data=temp:25.7,humid:52.4` and
//          an optional `timestamp` (ms). Answered once the point is durable; then published like any
//          message on `/<appid>/@writefeed/<feedid>[/<apikey>]`, so an uplink's `up` rule relays it.
//   read:  `GET /feed/<feedid>?apikey=&since=|from=&to=&granularity=&aggregate=&filter=`, answered in the
//          shape NETPIE's Freeboard feed datasource reads (data, lastest_data, granularity, from, to).
// Queries run on the storage thread; each is bounded (store.feeds.max_query_rows, max_query_points).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "gateway/base/clock.hpp"
#include "gateway/broker/broker.hpp"
#include "gateway/config/config.hpp"
#include "gateway/net/http_server.hpp"
#include "gateway/netpie/microgears.hpp"
#include "protocols/http/request.hpp"
#include "storage/store.hpp"

namespace gw::netpie {

class Feeds {
 public:
  // `cfg` is the running config, replaced in place on reload (the feeds and keys follow it).
  Feeds(const config::Netpie& cfg, const Clock& clock);
  void attach(broker::Broker& broker, storage::Store* store) {
    broker_ = &broker;
    store_ = store;
  }

  // True when the path is /feed/...; the request is then answered, now or later.
  bool handle(const http::Request& req, const net::HttpResponder& out);
  // A microgear's `@writefeed/<args>`. True: consumed (refused; the microgear got @error). False: the
  // point was submitted to the store and the message goes on to the broker (subscribers, uplinks).
  bool microgear_write(broker::Connection& c, const Gear& g, std::string_view args,
                       const broker::MessagePtr& m);

 private:
  const config::NetpieFeed* find(std::string_view id, const config::NetpieApp** app) const;
  void write(const config::NetpieApp& app, const config::NetpieFeed& feed, const std::string& apikey,
             const http::Request& req, const net::HttpResponder& out);
  void read(const config::NetpieFeed& feed, const http::Request& req, const net::HttpResponder& out);

  // The time a point without a timestamp gets: now, or 1 ms after the feed's previous such point, so two
  // writes in one millisecond (a microgear sending twice) stay two points instead of the last replacing it.
  std::int64_t stamp(const std::string& feed);

  const config::Netpie& cfg_;
  const Clock& clock_;
  broker::Broker* broker_ = nullptr;
  storage::Store* store_ = nullptr;
  std::map<std::string, std::int64_t, std::less<>>
      last_stamp_;  // feed id -> last stamp given (feeds are few)
};

}  // namespace gw::netpie
