// Implementation of bind_and_listen.
#include "gateway/net/listen.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace gw::net {

Result<std::uint16_t, std::string> bind_and_listen(uv_tcp_t* handle, const std::string& name,
                                                   const std::string& host, std::uint16_t port, int backlog,
                                                   uv_connection_cb on_connection) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return unexpected(std::string("listener ") + name + ": bad bind address '" + host + "'");
  }
  int rc = uv_tcp_bind(handle, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(handle), backlog, on_connection);
  if (rc != 0) {
    return unexpected(std::string("listener ") + name + ": cannot listen on " + host + ":" +
                      std::to_string(port) + ": " + uv_strerror(rc));
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(handle, reinterpret_cast<sockaddr*>(&bound), &len);
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

}  // namespace gw::net
