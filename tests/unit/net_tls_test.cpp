// TlsSession client against TlsSession server, entirely in memory, with the certificates of
// tests/tls/make-test-ca.sh: the handshake, data both ways (also several MB), close_notify, each kind of
// certificate failure and its message, client certificates, garbage input, the buffer bounds, and the
// load errors for bad files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "gateway/net/tls.hpp"
#include "tests/unit/tls_test_certs.hpp"

namespace gw::net {
namespace {

using gw::testing::cert_path;
using gw::testing::client_context;
using gw::testing::presenting;
using gw::testing::trusting;

// Moves ciphertext both ways until neither side has anything to send.
void pump(TlsSession& a, TlsSession& b) {
  for (int i = 0; i < 1000 && (a.has_cipher() || b.has_cipher()); ++i) {
    b.feed(a.take_cipher());
    a.feed(b.take_cipher());
  }
}

struct Pair {
  TlsSession client;
  TlsSession server;
  Pair(std::shared_ptr<const TlsClientContext> c, std::string_view host,
       std::shared_ptr<const TlsServerContext> s)
      : client(std::move(c), host), server(std::move(s)) {
    pump(client, server);
  }
};

TEST(TlsSession, HandshakeAndDataBothWays) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  ASSERT_EQ(p.client.state(), TlsSession::State::Open) << p.client.error();
  ASSERT_EQ(p.server.state(), TlsSession::State::Open) << p.server.error();
  EXPECT_NE(p.client.describe().find("TLSv1.2"), std::string::npos) << p.client.describe();

  p.client.write("hello server");
  pump(p.client, p.server);
  EXPECT_EQ(p.server.take_plain(), "hello server");
  p.server.write("hello client");
  pump(p.client, p.server);
  EXPECT_EQ(p.client.take_plain(), "hello client");
  EXPECT_EQ(p.server.take_plain(), "");
}

TEST(TlsSession, WritesBeforeTheHandshakeAreSentAfterIt) {
  TlsSession client(trusting("ca.crt"), "localhost");
  TlsSession server(presenting("server"));
  client.write("early");
  EXPECT_EQ(client.state(), TlsSession::State::Handshaking);
  pump(client, server);
  ASSERT_TRUE(server.handshake_done()) << server.error();
  EXPECT_EQ(server.take_plain(), "early");
}

// A few MB each way in 100 KB writes, checking every byte (a counter pattern, so reordering shows).
TEST(TlsSession, LargeDataBothWays) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  ASSERT_TRUE(p.client.handshake_done());
  auto pattern = [](std::size_t total) {
    std::string s(total, '\0');
    for (std::size_t i = 0; i < total; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
    return s;
  };
  const std::string up = pattern(5 << 20);
  const std::string down = pattern(3 << 20) + "end";
  std::string got_up, got_down;
  for (std::size_t at = 0; at < std::max(up.size(), down.size()); at += 100'000) {
    if (at < up.size()) p.client.write(std::string_view(up).substr(at, 100'000));
    if (at < down.size()) p.server.write(std::string_view(down).substr(at, 100'000));
    pump(p.client, p.server);
    got_up += p.server.take_plain();
    got_down += p.client.take_plain();
  }
  EXPECT_EQ(p.client.state(), TlsSession::State::Open) << p.client.error();
  EXPECT_EQ(p.server.state(), TlsSession::State::Open) << p.server.error();
  EXPECT_TRUE(got_up == up) << got_up.size() << " of " << up.size();
  EXPECT_TRUE(got_down == down) << got_down.size() << " of " << down.size();
}

TEST(TlsSession, CloseNotifyReachesThePeer) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  p.client.write("last words");
  p.client.close();
  EXPECT_EQ(p.client.state(), TlsSession::State::Closed);
  EXPECT_TRUE(p.client.handshake_done());
  p.server.feed(p.client.take_cipher());
  EXPECT_EQ(p.server.take_plain(), "last words");
  EXPECT_TRUE(p.server.peer_closed());
  EXPECT_EQ(p.server.state(), TlsSession::State::Closed);
  EXPECT_EQ(p.server.error(), "");
  p.client.write("ignored");
  EXPECT_FALSE(p.client.has_cipher());
}

TEST(TlsSession, UnknownCaIsRefusedWithTheCaFileNamed) {
  Pair p(trusting("wrong-ca.crt"), "localhost", presenting("server"));
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error(),
            "certificate verify failed for localhost: not signed by a trusted CA (ca_file " +
                cert_path("wrong-ca.crt") + ")");
  // The client told the server why, with an alert.
  EXPECT_EQ(p.server.state(), TlsSession::State::Failed);
  EXPECT_NE(p.server.error().find("TLS handshake refused by the peer: alert"), std::string::npos)
      << p.server.error();
}

TEST(TlsSession, NameMismatch) {
  Pair p(trusting("ca.crt"), "localhost", presenting("other-name"));
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error(),
            "certificate verify failed for localhost: certificate name mismatch (expected localhost)");
}

// mbedTLS 2.28 compares names only; an IP address is matched against iPAddress names by our callback.
TEST(TlsSession, IpAddressMatchesTheIpSubjectAltName) {
  Pair ok(trusting("ca.crt"), "127.0.0.1", presenting("server"));
  EXPECT_TRUE(ok.client.handshake_done()) << ok.client.error();
  Pair wrong_ip(trusting("ca.crt"), "127.0.0.2", presenting("server"));
  EXPECT_EQ(wrong_ip.client.error(),
            "certificate verify failed for 127.0.0.2: certificate name mismatch (expected 127.0.0.2)");
  Pair other(trusting("ca.crt"), "127.0.0.1", presenting("other-name"));
  EXPECT_EQ(other.client.error(),
            "certificate verify failed for 127.0.0.1: certificate name mismatch (expected 127.0.0.1)");
}

TEST(TlsSession, ServerNameOptionReplacesTheHost) {
  TlsClientOptions o;
  o.ca_file = cert_path("ca.crt");
  o.server_name = "other.example";
  Pair p(client_context(o), "127.0.0.1", presenting("other-name"));
  EXPECT_TRUE(p.client.handshake_done()) << p.client.error();
  Pair q(client_context(o), "127.0.0.1", presenting("server"));
  EXPECT_EQ(
      q.client.error(),
      "certificate verify failed for other.example: certificate name mismatch (expected other.example)");
  // The session's own server_name wins over the options'.
  TlsSession client(client_context(o), "127.0.0.1", "localhost");
  TlsSession server(presenting("server"));
  pump(client, server);
  EXPECT_TRUE(client.handshake_done()) << client.error();
}

TEST(TlsSession, ExpiredCertificate) {
  Pair p(trusting("ca.crt"), "localhost", presenting("expired"));
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error(), "certificate verify failed for localhost: certificate expired");
}

TEST(TlsSession, VerifyOffAcceptsAnyCertificate) {
  TlsClientOptions o;
  o.verify = false;
  o.ca_file = cert_path("wrong-ca.crt");
  Pair p(client_context(o), "nobody.example", presenting("expired"));
  EXPECT_TRUE(p.client.handshake_done()) << p.client.error();
  EXPECT_TRUE(p.server.handshake_done()) << p.server.error();
}

// A client trusting the test CA and presenting `<name>.crt`.
std::shared_ptr<const TlsClientContext> with_client_cert(const std::string& name) {
  TlsClientOptions o;
  o.ca_file = cert_path("ca.crt");
  o.cert_file = cert_path(name + ".crt");
  o.key_file = cert_path(name + ".key");
  return client_context(o);
}

TEST(TlsSession, ClientCertificateRequiredAndPresented) {
  Pair p(with_client_cert("client"), "localhost", presenting("server", "ca.crt"));
  EXPECT_TRUE(p.client.handshake_done()) << p.client.error();
  EXPECT_TRUE(p.server.handshake_done()) << p.server.error();
}

TEST(TlsSession, ClientCertificateRequiredAndMissing) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server", "ca.crt"));
  EXPECT_EQ(p.server.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.server.error(), "client certificate required but none was sent");
  EXPECT_FALSE(p.client.handshake_done());
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error(), "TLS handshake refused by the peer: alert handshake_failure (40)");
}

TEST(TlsSession, ClientCertificateFromAnotherCa) {
  Pair p(with_client_cert("wrong-client"), "localhost", presenting("server", "ca.crt"));
  EXPECT_EQ(p.server.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.server.error(),
            "client certificate verify failed: not signed by a trusted CA (client_ca_file " +
                cert_path("ca.crt") + ")");
}

TEST(TlsSession, GarbageIsAnErrorNotACrash) {
  TlsSession server(presenting("server"));
  server.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(server.state(), TlsSession::State::Failed);
  EXPECT_EQ(server.error().rfind("TLS handshake failed: ", 0), 0u) << server.error();

  TlsSession client(trusting("ca.crt"), "localhost");
  client.take_cipher();
  client.feed(std::string(300, '\x16'));
  EXPECT_EQ(client.state(), TlsSession::State::Failed);
  EXPECT_FALSE(client.error().empty());

  // After the handshake: a record with a broken MAC.
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  p.server.write("payload that will be damaged");
  std::string record = p.server.take_cipher();
  record[record.size() - 3] ^= 0x55;
  p.client.feed(record);
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error().rfind("TLS error: ", 0), 0u) << p.client.error();
  EXPECT_EQ(p.client.take_plain(), "");
  p.client.feed("more");  // ignored once failed
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
}

TEST(TlsSession, DecryptionPausesAtThePlaintextBound) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  // Past the plaintext bound, within the ciphertext bound.
  const std::string data(TlsSession::kMaxPlainBuffered + 16'000, 'x');
  p.server.write(data);
  p.client.feed(p.server.take_cipher());
  EXPECT_EQ(p.client.state(), TlsSession::State::Open);
  std::string first = p.client.take_plain();
  EXPECT_GE(first.size(), TlsSession::kMaxPlainBuffered);
  EXPECT_LT(first.size(), data.size());
  std::string rest = p.client.take_plain();
  EXPECT_EQ(first.size() + rest.size(), data.size());
}

TEST(TlsSession, CiphertextPastTheBoundFailsTheSession) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  p.server.write(std::string(3 << 20, 'y'));
  p.client.feed(p.server.take_cipher());  // 1 MiB decrypted, 2 MiB waiting: over the bound
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error(), "TLS receive buffer over " + std::to_string(TlsSession::kMaxCipherBuffered) +
                                  " bytes (plaintext not taken)");
}

TEST(TlsSession, CiphertextNotTakenIsBounded) {
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  for (int i = 0; i < 5 && p.client.state() == TlsSession::State::Open; ++i)
    p.client.write(std::string(1 << 20, 'z'));
  EXPECT_EQ(p.client.state(), TlsSession::State::Failed);
  EXPECT_EQ(p.client.error(), "TLS send buffer over " + std::to_string(TlsSession::kMaxOutBuffered) +
                                  " bytes (ciphertext not taken)");
}

// ---- idle release (release_idle_memory) ----

// A pattern that differs by size and round, so a stale or scribbled byte shows.
std::string pattern(std::size_t n, int round) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 13 + static_cast<std::size_t>(round) * 7) & 0xff);
  return s;
}

// Released with madvise (Discard) or overwritten with 0xA5 (Scribble: anything mbedTLS read from the
// released range before writing it would break the MAC check or the data), both sides, again and again,
// with records of 1 byte up to several full 16 KiB records each way: every byte arrives.
class TlsIdleRelease : public ::testing::TestWithParam<TlsSession::Release> {};

TEST_P(TlsIdleRelease, SessionsKeepWorkingAfterTheirRecordBuffersAreReleased) {
  const TlsSession::Release how = GetParam();
  Pair p(trusting("ca.crt"), "localhost", presenting("server"));
  ASSERT_TRUE(p.server.handshake_done()) << p.server.error();
  // Record sequence numbers well past 0 first: a lost counter at 0 would go unnoticed.
  for (int i = 0; i < 5; ++i) {
    p.client.write("up");
    p.server.write("down");
    pump(p.client, p.server);
    ASSERT_EQ(p.server.take_plain(), "up");
    ASSERT_EQ(p.client.take_plain(), "down");
  }
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  // Whole pages inside [64, 16384) of each of the two buffers: at least two each.
  const std::size_t at_least = how == TlsSession::Release::Discard ? 4 * page : 2 * (16384 - 64);
  for (int round = 0; round < 3; ++round) {
    for (std::size_t size : {std::size_t{1}, std::size_t{100}, std::size_t{16384}, std::size_t{40000}}) {
      EXPECT_GE(p.server.release_idle_memory(how), at_least);
      EXPECT_GE(p.client.release_idle_memory(how), at_least);
      const std::string up = pattern(size, round), down = pattern(size + 1, round + 1);
      p.client.write(up);
      pump(p.client, p.server);
      ASSERT_TRUE(p.server.take_plain() == up) << "round " << round << ", " << size << " bytes up";
      EXPECT_GE(p.server.release_idle_memory(how), at_least);  // between the two directions too
      EXPECT_GE(p.client.release_idle_memory(how), at_least);
      p.server.write(down);
      pump(p.client, p.server);
      ASSERT_TRUE(p.client.take_plain() == down) << "round " << round << ", " << size << " bytes down";
    }
  }
  EXPECT_EQ(p.server.state(), TlsSession::State::Open) << p.server.error();
  EXPECT_EQ(p.client.state(), TlsSession::State::Open) << p.client.error();
  // close_notify still verifies after a release.
  p.server.release_idle_memory(how);
  p.client.close();
  p.server.feed(p.client.take_cipher());
  EXPECT_TRUE(p.server.peer_closed());
  EXPECT_EQ(p.server.error(), "");
}

INSTANTIATE_TEST_SUITE_P(Modes, TlsIdleRelease,
                         ::testing::Values(TlsSession::Release::Discard, TlsSession::Release::Scribble),
                         [](const auto& param_info) {
                           return param_info.param == TlsSession::Release::Discard ? "Discard" : "Scribble";
                         });

// Nothing is released while a record is half read, plaintext or ciphertext waits to be taken, the
// handshake runs, or the session is over; with Scribble, a release there would corrupt what follows.
TEST(TlsIdleRelease, NothingIsReleasedWhileAnythingIsPending) {
  constexpr auto kScribble = TlsSession::Release::Scribble;
  TlsSession fresh(presenting("server"));
  EXPECT_EQ(fresh.release_idle_memory(kScribble), 0u);  // handshake not started

  TlsSession client(trusting("ca.crt"), "localhost");
  TlsSession server(presenting("server"));
  server.feed(client.take_cipher());  // ClientHello: the server is mid-handshake
  EXPECT_EQ(server.release_idle_memory(kScribble), 0u);
  client.feed(server.take_cipher());
  pump(client, server);
  ASSERT_TRUE(server.handshake_done());

  client.write(pattern(20000, 1));  // two records
  std::string records = client.take_cipher();
  server.feed(records.substr(0, 700));  // a partial record in mbedTLS's input buffer
  EXPECT_EQ(server.release_idle_memory(kScribble), 0u);
  server.feed(records.substr(700, 16500));  // the first record and part of the second
  EXPECT_EQ(server.release_idle_memory(kScribble), 0u);
  server.feed(records.substr(17200));
  EXPECT_TRUE(server.take_plain() == pattern(20000, 1));

  client.write("not taken yet");
  server.feed(client.take_cipher());
  EXPECT_EQ(server.release_idle_memory(kScribble), 0u);  // plaintext waiting
  EXPECT_EQ(server.take_plain(), "not taken yet");

  server.write("ciphertext waiting");
  EXPECT_EQ(server.release_idle_memory(kScribble), 0u);
  client.feed(server.take_cipher());
  EXPECT_EQ(client.take_plain(), "ciphertext waiting");

  EXPECT_GT(server.release_idle_memory(kScribble), 0u);  // now idle
  server.close();
  EXPECT_EQ(server.release_idle_memory(kScribble), 0u);
  client.feed(server.take_cipher());
  EXPECT_TRUE(client.peer_closed());
}

// ---- load errors ----

std::string client_load_error(TlsClientOptions o) {
  auto r = TlsClientContext::load(o);
  return r.ok() ? "loaded" : r.error();
}

TEST(TlsLoad, MissingCaFile) {
  TlsClientOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(client_load_error(o), "tls.ca_file /nonexistent/ca.pem: cannot read: No such file or directory");
}

TEST(TlsLoad, CaFileThatIsNotACertificate) {
  TlsClientOptions o;
  o.ca_file = cert_path("ca.key");
  EXPECT_EQ(client_load_error(o),
            "tls.ca_file " + cert_path("ca.key") + ": not a PEM certificate (no BEGIN CERTIFICATE line)");
}

TEST(TlsLoad, ClientKeyProblems) {
  TlsClientOptions o;
  o.ca_file = cert_path("ca.crt");
  o.cert_file = cert_path("client.crt");
  EXPECT_EQ(client_load_error(o), "tls.key_file: required with tls.cert_file");
  o.key_file = cert_path("server.key");
  EXPECT_EQ(client_load_error(o), "tls.key_file " + cert_path("server.key") +
                                      ": is not the key of tls.cert_file " + cert_path("client.crt"));
  o.key_file = cert_path("client.crt");
  EXPECT_EQ(
      client_load_error(o).rfind("tls.key_file " + cert_path("client.crt") + ": not a PEM private key", 0),
      0u)
      << client_load_error(o);
  o.key_file = "/nonexistent/client.key";
  EXPECT_EQ(client_load_error(o),
            "tls.key_file /nonexistent/client.key: cannot read: No such file or directory");
}

TEST(TlsLoad, VerifyOffReadsNoCaFile) {
  TlsClientOptions o;
  o.verify = false;
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_EQ(client_load_error(o), "loaded");
}

TEST(TlsLoad, SystemBundleWhenNoCaFile) {
  TlsClientOptions o;
  const std::string e = client_load_error(o);
  // Either the bundle loads or the message names it (a container may lack ca-certificates).
  EXPECT_TRUE(e == "loaded" || e.rfind(std::string("tls.ca_file ") + kSystemCaBundle, 0) == 0) << e;
}

TEST(TlsLoad, ServerNeedsCertificateAndKey) {
  TlsServerOptions o;
  auto r = TlsServerContext::load(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "tls.cert_file and tls.key_file: required for a TLS server");
  o.cert_file = cert_path("server.crt");
  o.key_file = cert_path("server.key");
  o.client_ca_file = "/nonexistent/clients.pem";
  r = TlsServerContext::load(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), "tls.client_ca_file /nonexistent/clients.pem: cannot read: No such file or directory");
}

}  // namespace
}  // namespace gw::net
