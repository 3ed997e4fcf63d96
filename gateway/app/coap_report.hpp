// The CoAP front end's counters where operators look: $SYS/broker/coap/... and /metrics
// (netpie_edge_coap_*). Listed in gateway/coap/README.md "Counters" and gateway/ops/README.md "Metrics".
#pragma once

#include <memory>

#include "gateway/broker/broker.hpp"
#include "gateway/coap/server.hpp"
#include "gateway/ops/metrics.hpp"

namespace gw::app {

// `coap` is read at each $SYS interval and scrape (null: nothing reported, e.g. during shutdown).
void add_coap_reports(broker::Broker& broker, ops::Registry& metrics,
                      const std::unique_ptr<coap::Server>& coap);

}  // namespace gw::app
