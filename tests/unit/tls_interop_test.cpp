// Our TLS against OpenSSL's command-line peers, so that neither side of a handshake is only our own code:
// HttpClient (mbedTLS client) fetches from `openssl s_server -www` (trusted, unknown CA, client certificate
// required with and without one), and `openssl s_client -verify_return_error` talks to a TlsSession server
// on the loop (also with a client certificate). The peers' output goes to files in a temporary directory.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gateway/uplink/http_client.hpp"
#include "tests/unit/test_stream_server.hpp"
#include "tests/unit/tls_test_certs.hpp"

extern char** environ;

namespace gw::uplink {
namespace {

using namespace gw::testing;  // NOLINT: the test helpers
using Conn = TestStreamServer::Conn;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with stdin from a file and stdout+stderr to a file; killed when destroyed.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::filesystem::path& in, std::filesystem::path out)
      : out_(std::move(out)) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    EXPECT_EQ(posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ), 0) << argv[0];
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  std::string output() const { return slurp(out_); }
  // The exit status once the process has ended, else nothing.
  std::optional<int> poll() {
    if (exited_) return status_;
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) != pid_) return std::nullopt;
    exited_ = true;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return status_;
  }

 private:
  std::filesystem::path out_;
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = -1;
};

class TlsInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    char tmpl[] = "/tmp/gw-tls-interop-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ / "empty").close();
    std::ofstream(dir_ / "hello") << "hello\n";
  }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    std::filesystem::remove_all(dir_);
  }

  // `openssl s_server -www` on a port of its choosing (read back from its "ACCEPT" line).
  std::uint16_t s_server(std::optional<Child>& child, std::vector<std::string> extra) {
    std::vector<std::string> argv{"openssl", "s_server",
                                  "-accept", "127.0.0.1:0",
                                  "-cert",   cert_path("server.crt"),
                                  "-key",    cert_path("server.key"),
                                  "-www"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // A fresh output file per server: the port is read back from it, and a file a previous server wrote
    // could hand out that server's (closed) port. posix_spawn may return before the child has opened and
    // truncated the file: qemu-user runs its CLONE_VFORK as a plain fork, so the parent does not wait for
    // exec.
    child.emplace(argv, dir_ / "empty", dir_ / ("s_server-" + std::to_string(++servers_) + ".out"));
    for (int i = 0; i < 500; ++i) {
      const std::string out = child->output();
      if (auto at = out.find("ACCEPT 127.0.0.1:");
          at != std::string::npos && out.find('\n', at) != std::string::npos)
        return static_cast<std::uint16_t>(std::stoi(out.substr(at + 17)));
      if (child->poll()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "s_server did not start: " << child->output();
    return 0;
  }

  HttpClient::Outcome get(const std::shared_ptr<const net::TlsClientContext>& tls, std::uint16_t port) {
    HttpClient client(&loop_, tls, HttpClientOptions{10'000, 1 << 20});
    HttpRequest r;
    r.method = "GET";
    r.tls = true;
    r.host = "127.0.0.1";
    r.port = port;
    r.path = "/";
    r.headers = {{"Host", "127.0.0.1"}, {"Connection", "close"}};
    std::optional<HttpClient::Outcome> got;
    client.start(r, [&got](HttpClient::Outcome o) { got.emplace(std::move(o)); });
    while (!got) uv_run(&loop_, UV_RUN_ONCE);  // the client's own timeout bounds this
    return std::move(*got);
  }

  uv_loop_t loop_{};
  std::filesystem::path dir_;
  int servers_ = 0;  // s_server processes started, naming their output files
};

TEST_F(TlsInterop, HttpClientAgainstOpensslServer) {
  std::optional<Child> server;
  const auto port = s_server(server, {});
  ASSERT_NE(port, 0);
  auto ok = get(trusting("ca.crt"), port);
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok->status, 200);
  EXPECT_NE(ok->body.find("s_server"), std::string::npos) << ok->body.substr(0, 200);

  auto refused = get(trusting("wrong-ca.crt"), port);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), "certificate verify failed for 127.0.0.1: not signed by a trusted CA (ca_file " +
                                 cert_path("wrong-ca.crt") + ")");
}

TEST_F(TlsInterop, HttpClientCertificateForOpensslServer) {
  std::optional<Child> server;
  const auto port =
      s_server(server, {"-Verify", "2", "-CAfile", cert_path("ca.crt"), "-verify_return_error"});
  ASSERT_NE(port, 0);
  net::TlsClientOptions o;
  o.ca_file = cert_path("ca.crt");
  o.cert_file = cert_path("client.crt");
  o.key_file = cert_path("client.key");
  auto with = get(client_context(o), port);
  ASSERT_TRUE(with.ok()) << with.error();
  EXPECT_EQ(with->status, 200);

  auto without = get(trusting("ca.crt"), port);
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.error().rfind("TLS handshake refused by the peer: alert ", 0), 0u) << without.error();
}

// SNI (RFC 6066 §3): s_server switches to its second certificate when the client names `-servername`.
TEST_F(TlsInterop, ServerNameIndication) {
  {
    // The name is sent: asking for "other.example" gets the server's second certificate.
    std::optional<Child> server;
    const auto port = s_server(server, {"-servername", "other.example", "-cert2", cert_path("other-name.crt"),
                                        "-key2", cert_path("other-name.key")});
    net::TlsClientOptions o;
    o.ca_file = cert_path("ca.crt");
    o.server_name = "other.example";
    auto ok = get(client_context(o), port);
    ASSERT_TRUE(ok.ok()) << ok.error();
    EXPECT_EQ(ok->status, 200);
  }
  {
    // An IP address is not sent as SNI: a server switching on "127.0.0.1" keeps its default certificate.
    std::optional<Child> server;
    const auto port = s_server(server, {"-servername", "127.0.0.1", "-cert2", cert_path("other-name.crt"),
                                        "-key2", cert_path("other-name.key")});
    auto ok = get(trusting("ca.crt"), port);
    ASSERT_TRUE(ok.ok()) << ok.error();
    EXPECT_EQ(ok->status, 200);
  }
}

// s_client sends "hello\n"; our server answers "pong" and closes with close_notify.
TEST_F(TlsInterop, OpensslClientAgainstOurServer) {
  for (bool mutual : {false, true}) {
    std::string got;
    TestStreamServer server(&loop_, mutual ? presenting("server", "ca.crt") : presenting("server"),
                            [&got](Conn& c) {
                              if (c.in.find('\n') == std::string::npos) return;
                              got = c.in;
                              c.send("pong\n");
                              c.close();
                            });
    std::vector<std::string> argv{"openssl",
                                  "s_client",
                                  "-connect",
                                  "127.0.0.1:" + std::to_string(server.port()),
                                  "-CAfile",
                                  cert_path("ca.crt"),
                                  "-verify_return_error",
                                  "-verify_ip",
                                  "127.0.0.1",
                                  "-quiet"};
    if (mutual) argv.insert(argv.end(), {"-cert", cert_path("client.crt"), "-key", cert_path("client.key")});
    Child client(argv, dir_ / "hello", dir_ / "s_client.out");
    std::optional<int> status;
    for (int i = 0; i < 1000 && !(status = client.poll()); ++i) uv_run(&loop_, UV_RUN_NOWAIT), usleep(5000);
    ASSERT_TRUE(status.has_value()) << "s_client did not finish: " << client.output();
    EXPECT_EQ(*status, 0) << client.output();
    EXPECT_EQ(got, "hello\n") << "mutual " << mutual;
    EXPECT_NE(client.output().find("pong"), std::string::npos) << client.output();
    EXPECT_TRUE(server.tls_errors.empty()) << server.tls_errors[0];
    server.close();
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
}

}  // namespace
}  // namespace gw::uplink
