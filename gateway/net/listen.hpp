// Binding a libuv TCP listener, shared by the MQTT and HTTP servers: parse the numeric address, bind,
// listen, and read back the port actually bound (the answer to port 0).
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "gateway/base/result.hpp"

namespace gw::net {

// `handle` is uv_tcp_init'ed by the caller, who also closes it on failure. Errors name the listener.
Result<std::uint16_t, std::string> bind_and_listen(uv_tcp_t* handle, const std::string& name,
                                                   const std::string& host, std::uint16_t port, int backlog,
                                                   uv_connection_cb on_connection);

}  // namespace gw::net
