// The text of `netpie-edge --version`: the libraries are named with the versions loaded at run time, which
// on a device can differ from the ones the binary was built against (a library upgraded under it).
#include <sqlite3.h>
#include <uv.h>

#include "gateway/app/app.hpp"
#include "gateway/net/tls.hpp"

namespace gw::app {

std::string version_text() {
  return std::string("netpie-edge ") + NETPIE_EDGE_VERSION + "\nmbedTLS " + net::tls_library_version() +
         "\nlibuv " + uv_version_string() + "\nSQLite " + sqlite3_libversion();
}

}  // namespace gw::app
