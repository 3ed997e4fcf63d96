// Topic history over HTTP (docs/netpie-feeds.md "Topic history"): `GET /history/<topic filter>?since=
// &until=&limit=&after_seq=` answers the messages the store kept for the history filters
// (store.history.filters, with its retention), in seq order, as JSON or, with `Accept: text/csv`, CSV.
// Paged by seq: each page names the seq to resume after. Each page reads at most
// store.history.max_scan_rows rows and holds at most store.history.max_page_rows (a larger limit is
// refused). Readers: a NETPIE key (Basic KEY:SECRET or ?auth=) sees the topics its subscribe rights
// cover; without credentials, loopback clients (the operator on the box) see every topic.
#pragma once

#include "gateway/net/http_server.hpp"
#include "gateway/netpie/registry.hpp"
#include "protocols/http/request.hpp"
#include "storage/store.hpp"

namespace gw::netpie {

class HistoryApi {
 public:
  HistoryApi(Registry& registry, const Clock& clock) : registry_(registry), clock_(clock) {}
  void attach(storage::Store* store) { store_ = store; }

  // True when the path is /history/...; the request is then answered, now or later.
  bool handle(const http::Request& req, const net::HttpResponder& out);

 private:
  Registry& registry_;
  const Clock& clock_;
  storage::Store* store_ = nullptr;
};

}  // namespace gw::netpie
