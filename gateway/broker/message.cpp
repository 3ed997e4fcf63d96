// Message helpers.
#include "gateway/broker/message.hpp"

namespace gw::broker {

std::shared_ptr<const mqtt::Properties> forwarded_properties(const mqtt::Properties& in) {
  // MQTT 5.0 §3.3.2.3: these travel unchanged from publisher to subscribers.
  if (!in.payload_format_indicator && !in.content_type && !in.response_topic && !in.correlation_data &&
      in.user_properties.empty()) {
    return nullptr;
  }
  auto out = std::make_shared<mqtt::Properties>();
  out->payload_format_indicator = in.payload_format_indicator;
  out->content_type = in.content_type;
  out->response_topic = in.response_topic;
  out->correlation_data = in.correlation_data;
  out->user_properties = in.user_properties;
  return out;
}

}  // namespace gw::broker
