// Where the TLS tests find the certificates of tests/tls/make-test-ca.sh (a CTest fixture makes them in
// the build tree before the tests run), and small helpers to load contexts from them.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "gateway/net/tls.hpp"

namespace gw::testing {

inline std::string cert_path(const std::string& name) {
  return std::string(GW_TEST_CA_DIR) + "/" + name;
}

// A client context trusting `ca` (a file of the test CA directory); fails the test when it cannot load.
inline std::shared_ptr<const net::TlsClientContext> client_context(net::TlsClientOptions o) {
  o.enabled = true;
  auto ctx = net::TlsClientContext::load(o);
  EXPECT_TRUE(ctx.ok()) << ctx.error();
  return ctx.ok() ? ctx.value() : nullptr;
}

inline std::shared_ptr<const net::TlsClientContext> trusting(const std::string& ca) {
  net::TlsClientOptions o;
  o.ca_file = cert_path(ca);
  return client_context(o);
}

// A server context presenting `<name>.crt` / `<name>.key`; `client_ca` set: client certificates required.
inline std::shared_ptr<const net::TlsServerContext> presenting(const std::string& name,
                                                               const std::string& client_ca = "") {
  net::TlsServerOptions o;
  o.cert_file = cert_path(name + ".crt");
  o.key_file = cert_path(name + ".key");
  if (!client_ca.empty()) o.client_ca_file = cert_path(client_ca);
  auto ctx = net::TlsServerContext::load(o);
  EXPECT_TRUE(ctx.ok()) << ctx.error();
  return ctx.ok() ? ctx.value() : nullptr;
}

}  // namespace gw::testing
