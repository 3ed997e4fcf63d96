// The CoAP counters in $SYS and Prometheus form (coap_report.hpp). The label sets are fixed: a refusal's
// bound, a drop's reason, a notification's message type; never per endpoint.
#include "gateway/app/coap_report.hpp"

namespace gw::app {

void add_coap_reports(broker::Broker& broker, ops::Registry& metrics,
                      const std::unique_ptr<coap::Server>& coap) {
  broker.add_sys_source([&coap](const broker::Broker::SysPut& put) {
    if (coap) coap->publish_sys(put);
  });
  metrics.add_collector([&coap](ops::Exposition& e) {
    if (!coap) return;
    const coap::Stats& s = coap->stats();
    e.counter("netpie_edge_coap_requests_total", "CoAP requests handled (retransmissions included)", {},
              s.requests);
    e.counter("netpie_edge_coap_publishes_total", "CoAP requests that published a message", {}, s.publishes);
    e.counter("netpie_edge_coap_notifications_total", "Observe notifications sent, by message type",
              {{"type", "non"}}, s.notifications - s.con_notifications);
    e.counter("netpie_edge_coap_notifications_total", "Observe notifications sent, by message type",
              {{"type", "con"}}, s.con_notifications);
    e.counter("netpie_edge_coap_duplicates_total",
              "Retransmitted CON requests answered from the exchange cache, not run again", {}, s.duplicates);
    e.counter("netpie_edge_coap_deferred_total", "Answers that waited for a store commit", {}, s.deferred);
    e.counter("netpie_edge_coap_late_acks_total", "Of those, sent piggybacked in one late ACK", {},
              s.late_acks);
    const std::pair<const char*, std::uint64_t> refused[] = {{"endpoints", s.refused_endpoints},
                                                             {"exchanges", s.refused_exchanges},
                                                             {"observers", s.refused_observers},
                                                             {"busy", s.refused_busy},
                                                             {"outbox_full", s.outbox_full}};
    for (const auto& [reason, n] : refused) {
      e.counter("netpie_edge_coap_refused_total", "CoAP requests refused at a bound (4.29 / 5.03), by bound",
                {{"reason", reason}}, n);
    }
    e.counter("netpie_edge_coap_observers_failed_total",
              "Observers removed: a CON notification unacknowledged after its retransmissions, or a RST", {},
              s.observers_failed);
    e.counter("netpie_edge_coap_notifications_dropped_total", "Notifications not sent, by reason",
              {{"reason", "too_large"}}, s.dropped_too_large);
    e.counter("netpie_edge_coap_notifications_dropped_total", "Notifications not sent, by reason",
              {{"reason", "queue_full"}}, s.dropped_oldest);
    e.gauge("netpie_edge_coap_endpoints", "CoAP endpoints served now", {}, static_cast<double>(s.endpoints));
    e.gauge("netpie_edge_coap_observers", "Observations now", {}, static_cast<double>(s.observers));
  });
}

}  // namespace gw::app
