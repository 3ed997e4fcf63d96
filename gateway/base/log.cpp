// Implementation of the one-line logger: a timestamp in UTC with milliseconds, the level, the component.
#include "gateway/base/log.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

namespace gw::log {
namespace {
std::atomic<Level> g_level{Level::Info};
std::atomic<bool> g_priority_prefix{false};

// syslog(3) priorities: LOG_ERR 3, LOG_WARNING 4, LOG_INFO 6, LOG_DEBUG 7.
const char* priority_prefix(Level l) {
  switch (l) {
    case Level::Error:
      return "<3>";
    case Level::Warn:
      return "<4>";
    case Level::Info:
      return "<6>";
    default:
      return "<7>";
  }
}
}  // namespace

void set_priority_prefix(bool on) {
  g_priority_prefix.store(on, std::memory_order_relaxed);
}

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

std::optional<Level> parse_level(std::string_view n) {
  if (n == "trace") return Level::Trace;
  if (n == "debug") return Level::Debug;
  if (n == "info") return Level::Info;
  if (n == "warn" || n == "warning") return Level::Warn;
  if (n == "error") return Level::Error;
  if (n == "off") return Level::Off;
  return std::nullopt;
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::Trace:
      return "TRACE";
    case Level::Debug:
      return "DEBUG";
    case Level::Info:
      return "INFO ";
    case Level::Warn:
      return "WARN ";
    case Level::Error:
      return "ERROR";
    case Level::Off:
      return "OFF  ";
  }
  return "?";
}

void set_level(Level l) {
  g_level.store(l, std::memory_order_relaxed);
}
Level level() {
  return g_level.load(std::memory_order_relaxed);
}

void write(Level lvl, std::string_view component, std::string_view message) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = time_point_cast<seconds>(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now - secs).count());
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  // One fprintf per line keeps lines whole when several threads log.
  std::fprintf(stderr, "%s%s.%03dZ %.*s %.*s: %.*s\n",
               g_priority_prefix.load(std::memory_order_relaxed) ? priority_prefix(lvl) : "", ts, ms,
               static_cast<int>(level_name(lvl).size()), level_name(lvl).data(),
               static_cast<int>(component.size()), component.data(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace gw::log
