// sd_notify client: the environment as systemd sets it (sd_watchdog_enabled(3) rules for WATCHDOG_PID), and
// datagrams received on a socket bound here, by path and in the abstract namespace; the logger's journal
// detection and "<N>" priority prefix (sd-daemon(3)).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gateway/app/sd_notify.hpp"
#include "gateway/base/log.hpp"

namespace gw::app {
namespace {

TEST(SdNotifyEnv, UnsetMeansOff) {
  NotifyEnv e = parse_notify_env(nullptr, nullptr, nullptr, 42);
  EXPECT_TRUE(e.socket.empty());
  EXPECT_EQ(e.watchdog_usec, 0u);
}

TEST(SdNotifyEnv, PathAndAbstractNamesOnly) {
  EXPECT_EQ(parse_notify_env("/run/systemd/notify", nullptr, nullptr, 1).socket, "/run/systemd/notify");
  EXPECT_EQ(parse_notify_env("@abc", nullptr, nullptr, 1).socket, "@abc");
  EXPECT_TRUE(parse_notify_env("relative/path", nullptr, nullptr, 1).socket.empty());
  EXPECT_TRUE(parse_notify_env("", nullptr, nullptr, 1).socket.empty());
}

TEST(SdNotifyEnv, WatchdogForThisPidOnly) {
  EXPECT_EQ(parse_notify_env("/s", "30000000", nullptr, 7).watchdog_usec, 30000000u);
  EXPECT_EQ(parse_notify_env("/s", "30000000", "7", 7).watchdog_usec, 30000000u);
  EXPECT_EQ(parse_notify_env("/s", "30000000", "8", 7).watchdog_usec, 0u);  // meant for another process
  EXPECT_EQ(parse_notify_env("/s", "0", nullptr, 7).watchdog_usec, 0u);
  EXPECT_EQ(parse_notify_env("/s", "-5", nullptr, 7).watchdog_usec, 0u);
  EXPECT_EQ(parse_notify_env("/s", "12x", nullptr, 7).watchdog_usec, 0u);
}

// A datagram socket bound the way systemd binds its notify socket.
struct Receiver {
  int fd = -1;
  std::string name;
  explicit Receiver(bool abstract) {
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    name = abstract ? "@gw-sd-notify-test-" + std::to_string(::getpid())
                    : ::testing::TempDir() + "gw-sd-notify-" + std::to_string(::getpid());
    if (!abstract) ::unlink(name.c_str());
    std::memcpy(a.sun_path, name.data(), name.size());
    if (abstract) a.sun_path[0] = '\0';
    auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0) << std::strerror(errno);
  }
  ~Receiver() {
    ::close(fd);
    if (name[0] == '/') ::unlink(name.c_str());
  }
  std::string receive() {
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<std::size_t>(n));
  }
};

TEST(SdNotifySend, PathSocket) {
  Receiver r(false);
  ASSERT_TRUE(sd_notify_send(r.name, "READY=1\nSTATUS=up"));
  EXPECT_EQ(r.receive(), "READY=1\nSTATUS=up");
}

TEST(SdNotifySend, AbstractSocket) {
  Receiver r(true);
  ASSERT_TRUE(sd_notify_send(r.name, "WATCHDOG=1"));
  EXPECT_EQ(r.receive(), "WATCHDOG=1");
}

TEST(SdNotifySend, NoSocketNoSend) {
  EXPECT_FALSE(sd_notify_send("", "READY=1"));
  EXPECT_FALSE(sd_notify_send("/nonexistent/dir/sock", "READY=1"));
}

TEST(ServiceNotifier, StatusOnlyWhenChangedAndStoppingLast) {
  Receiver r(false);
  uv_loop_t loop;
  uv_loop_init(&loop);
  ServiceNotifier n({r.name, 0});
  n.ready(&loop, "0 connections");
  EXPECT_EQ(r.receive(), "READY=1\nSTATUS=0 connections");
  n.status("0 connections");
  EXPECT_EQ(r.receive(), "<nothing>");
  n.status("3 connections");
  EXPECT_EQ(r.receive(), "STATUS=3 connections");
  n.stopping("SIGTERM");
  EXPECT_EQ(r.receive(), "STOPPING=1\nSTATUS=stopping (SIGTERM)");
  uv_run(&loop, UV_RUN_DEFAULT);  // no watchdog asked for: no timer, returns at once
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(ServiceNotifier, WatchdogTimerRunsOnTheLoopUntilStopping) {
  Receiver r(false);
  uv_loop_t loop;
  uv_loop_init(&loop);
  ServiceNotifier n({r.name, 2000000});  // 2 s: a keep-alive at once, the next in 1 s
  n.ready(&loop, "s");
  EXPECT_EQ(r.receive(), "READY=1\nSTATUS=s");
  EXPECT_EQ(r.receive(), "<nothing>");  // nothing until the loop runs: the loop sends them
  uv_run(&loop, UV_RUN_NOWAIT);         // runs the due timer once, does not wait for the next
  EXPECT_EQ(r.receive(), "WATCHDOG=1");
  n.stopping("test");
  EXPECT_EQ(r.receive(), "STOPPING=1\nSTATUS=stopping (test)");
  uv_run(&loop, UV_RUN_DEFAULT);  // the timer is closed: the loop ends
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(LogJournal, StderrMatchedByDeviceAndInode) {
  struct stat st {};
  ASSERT_EQ(fstat(2, &st), 0);
  std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", mine.c_str(), 1);
  EXPECT_TRUE(log::stderr_is_journal());
  std::string other = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  ::setenv("JOURNAL_STREAM", other.c_str(), 1);
  EXPECT_FALSE(log::stderr_is_journal());  // stderr redirected elsewhere by a child's shell
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(log::stderr_is_journal());
}

TEST(LogJournal, PriorityPrefixPerLevel) {
  std::fflush(stderr);
  int saved = ::dup(2);
  std::string path = ::testing::TempDir() + "gw-log-prefix-" + std::to_string(::getpid());
  std::FILE* f = std::fopen(path.c_str(), "w+");
  ASSERT_NE(f, nullptr);
  ::dup2(::fileno(f), 2);
  log::set_priority_prefix(true);
  log::write(log::Level::Error, "t", "e");
  log::write(log::Level::Warn, "t", "w");
  log::write(log::Level::Info, "t", "i");
  log::write(log::Level::Debug, "t", "d");
  log::set_priority_prefix(false);
  log::write(log::Level::Info, "t", "plain");
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::rewind(f);
  std::string lines[5];
  char buf[256];
  for (auto& l : lines) {
    ASSERT_NE(std::fgets(buf, sizeof buf, f), nullptr);
    l = buf;
  }
  std::fclose(f);
  ::unlink(path.c_str());
  EXPECT_EQ(lines[0].substr(0, 3), "<3>");
  EXPECT_EQ(lines[1].substr(0, 3), "<4>");
  EXPECT_EQ(lines[2].substr(0, 3), "<6>");
  EXPECT_EQ(lines[3].substr(0, 3), "<7>");
  EXPECT_NE(lines[4][0], '<');
}

}  // namespace
}  // namespace gw::app
