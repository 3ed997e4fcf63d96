// Implementation of the sd_notify(3) datagram protocol and of the daemon's notifications. The wire format is
// systemd's own (systemd/src/libsystemd/sd-daemon/sd-daemon.c): newline-separated assignments in one
// datagram, no reply.
#include "gateway/app/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

#include "gateway/base/log.hpp"

namespace gw::app {

namespace {

bool parse_u64(const char* s, std::uint64_t& out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0' || *s == '-') return false;
  out = v;
  return true;
}

}  // namespace

NotifyEnv parse_notify_env(const char* notify_socket, const char* watchdog_usec, const char* watchdog_pid,
                           long own_pid) {
  NotifyEnv env;
  if (notify_socket != nullptr) env.socket = notify_socket;
  // sd_notify(3) accepts only absolute paths and abstract names.
  if (!env.socket.empty() && env.socket[0] != '/' && env.socket[0] != '@') env.socket.clear();
  std::uint64_t usec = 0;
  if (!parse_u64(watchdog_usec, usec) || usec == 0) return env;
  if (watchdog_pid != nullptr) {
    std::uint64_t pid = 0;
    if (!parse_u64(watchdog_pid, pid) || pid != static_cast<std::uint64_t>(own_pid)) return env;
  }
  env.watchdog_usec = usec;
  return env;
}

NotifyEnv notify_env_from_process() {
  return parse_notify_env(std::getenv("NOTIFY_SOCKET"), std::getenv("WATCHDOG_USEC"),
                          std::getenv("WATCHDOG_PID"), static_cast<long>(::getpid()));
}

bool sd_notify_send(const std::string& socket, std::string_view state) {
  if (socket.empty()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace, unix(7)
  auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket.size());
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  // A datagram socket never blocks for long; MSG_NOSIGNAL keeps a vanished manager from raising SIGPIPE.
  ssize_t n =
      ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr), len);
  ::close(fd);
  return n == static_cast<ssize_t>(state.size());
}

void ServiceNotifier::ready(uv_loop_t* loop, const std::string& status) {
  if (!active()) return;
  last_status_ = status;
  if (!sd_notify_send(env_.socket, "READY=1\nSTATUS=" + status)) {
    GW_LOG(Warn, "app", "cannot notify the service manager on %s: %s", env_.socket.c_str(),
           std::strerror(errno));
  }
  if (env_.watchdog_usec == 0) return;
  // Half the interval, at least 1 ms: one late keep-alive must not be fatal (sd_watchdog_enabled(3)).
  std::uint64_t period_ms = env_.watchdog_usec / 2000;
  if (period_ms == 0) period_ms = 1;
  uv_timer_init(loop, &watchdog_);
  watchdog_.data = this;
  uv_timer_start(
      &watchdog_,
      [](uv_timer_t* t) {
        sd_notify_send(static_cast<ServiceNotifier*>(t->data)->env_.socket, "WATCHDOG=1");
      },
      0, period_ms);
  timer_running_ = true;
  GW_LOG(Info, "app", "service manager watchdog every %llu ms", static_cast<unsigned long long>(period_ms));
}

void ServiceNotifier::status(const std::string& status) {
  if (!active() || status == last_status_) return;
  last_status_ = status;
  sd_notify_send(env_.socket, "STATUS=" + status);
}

void ServiceNotifier::stopping(const std::string& why) {
  if (timer_running_) {
    uv_timer_stop(&watchdog_);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_), nullptr);
    timer_running_ = false;
  }
  if (!active()) return;
  sd_notify_send(env_.socket, "STOPPING=1\nSTATUS=stopping (" + why + ")");
}

}  // namespace gw::app
