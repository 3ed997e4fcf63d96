// The netpie uplink's HTTP port (gateway/uplink/mqtt_uplink.hpp, HttpPort) over the loop's HttpClient
// (gateway/uplink/http_client.hpp): the daemon's glue between the two.
#pragma once

#include <uv.h>

#include <memory>

#include "gateway/uplink/mqtt_uplink.hpp"

namespace gw::uplink {

// `tls` serves the token flow's https requests (null: they fail with a clear error).
std::unique_ptr<HttpPort> make_http_port(uv_loop_t* loop, std::shared_ptr<const net::TlsClientContext> tls);

}  // namespace gw::uplink
