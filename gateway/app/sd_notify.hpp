// The service manager's notification protocol (sd_notify(3)), written here rather than taken from libsystemd
// so that the same binary builds and runs where there is no systemd (OpenWrt, containers): a notification is
// one datagram of "KEY=value" lines sent to the AF_UNIX socket named by $NOTIFY_SOCKET (an abstract socket
// when the name starts with '@'). Without $NOTIFY_SOCKET every call does nothing. ServiceNotifier adds the
// daemon's use of it: READY=1 once, WATCHDOG=1 from a timer on the event loop (so a stuck loop stops the
// keep-alives and the manager restarts us), STATUS= only when it changed, STOPPING=1 at shutdown.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace gw::app {

struct NotifyEnv {
  std::string socket;               // $NOTIFY_SOCKET, empty = not run by a manager that listens
  std::uint64_t watchdog_usec = 0;  // $WATCHDOG_USEC when it is meant for this process, else 0
};

// Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (a watchdog for another pid is ignored,
// sd_watchdog_enabled(3)). The arguments are the variables' values (nullptr = unset) so that the parsing is
// testable.
NotifyEnv parse_notify_env(const char* notify_socket, const char* watchdog_usec, const char* watchdog_pid,
                           long own_pid);
NotifyEnv notify_env_from_process();

// Sends one notification; true when the datagram was sent. With an empty socket name, does nothing (false).
bool sd_notify_send(const std::string& socket, std::string_view state);

class ServiceNotifier {
 public:
  explicit ServiceNotifier(NotifyEnv env) : env_(std::move(env)) {}
  bool active() const { return !env_.socket.empty(); }

  // READY=1 with a first status; starts the watchdog timer on `loop` (at half the manager's interval,
  // as sd_watchdog_enabled(3) advises) when the manager asked for keep-alives.
  void ready(uv_loop_t* loop, const std::string& status);
  // STATUS=<status>, sent only when it differs from the last one sent.
  void status(const std::string& status);
  // STOPPING=1 and the reason; stops and closes the watchdog timer (the loop frees it).
  void stopping(const std::string& why);

 private:
  NotifyEnv env_;
  std::string last_status_;
  uv_timer_t watchdog_{};
  bool timer_running_ = false;
};

}  // namespace gw::app
