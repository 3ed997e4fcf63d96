// Implementation of the one-line logger: a timestamp in UTC with milliseconds, the level, the component;
// to stderr, a file, or syslog (which adds its own timestamp); behind a token-bucket line limit so that a
// connect storm cannot fill a small flash disk. One mutex around the sink: the loop and the store thread
// both log, and lines must stay whole.
#include "gateway/base/log.hpp"

#include <sys/stat.h>
#include <syslog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

namespace gw::log {
namespace {
std::atomic<Level> g_level{Level::Info};
std::atomic<bool> g_priority_prefix{false};

struct Sink {
  std::mutex mu;
  Output output = Output::Stderr;
  std::FILE* file = nullptr;  // Output::File
  LineLimiter limiter{SinkOptions{}.max_lines_per_second, SinkOptions{}.burst};
};
Sink& sink() {
  static Sink s;  // never destroyed before the last log line: a function-local static
  return s;
}

Millis steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// Called with the mutex held.
void emit(Sink& s, Level lvl, std::string_view component, std::string_view message) {
  if (s.output == Output::Syslog) {
    syslog(syslog_priority(lvl), "%.*s: %.*s", static_cast<int>(component.size()), component.data(),
           static_cast<int>(message.size()), message.data());
    return;
  }
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = time_point_cast<seconds>(now);
  int ms = static_cast<int>(duration_cast<milliseconds>(now - secs).count());
  std::time_t t = system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::FILE* out = s.output == Output::File && s.file != nullptr ? s.file : stderr;
  // Under systemd, stderr lines start with their syslog priority for journald (sd-daemon(3)).
  char prefix[8] = "";
  if (out == stderr && g_priority_prefix.load(std::memory_order_relaxed))
    std::snprintf(prefix, sizeof prefix, "<%d>", syslog_priority(lvl));
  std::fprintf(out, "%s%s.%03dZ %.*s %.*s: %.*s\n", prefix, ts, ms, static_cast<int>(level_name(lvl).size()),
               level_name(lvl).data(), static_cast<int>(component.size()), component.data(),
               static_cast<int>(message.size()), message.data());
}

void emit_summary(Sink& s, std::uint64_t n) {
  char line[96];
  int len = std::snprintf(line, sizeof line, "suppressed %llu lines (over log.max_lines_per_second)",
                          static_cast<unsigned long long>(n));
  emit(s, Level::Warn, "log", std::string_view(line, static_cast<std::size_t>(len)));
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

std::optional<Output> parse_output(std::string_view n) {
  if (n == "stderr") return Output::Stderr;
  if (n == "syslog") return Output::Syslog;
  if (n == "file") return Output::File;
  return std::nullopt;
}

int syslog_priority(Level l) {
  switch (l) {
    case Level::Trace:
    case Level::Debug:
      return LOG_DEBUG;
    case Level::Info:
      return LOG_INFO;
    case Level::Warn:
      return LOG_WARNING;
    case Level::Error:
    case Level::Off:
      return LOG_ERR;
  }
  return LOG_ERR;
}

LineLimiter::LineLimiter(std::uint32_t per_second, std::uint32_t burst)
    : per_second_(per_second), burst_(std::max<std::uint32_t>(burst, 1)), tokens_(burst_) {}

void LineLimiter::refill(Millis now) {
  if (!started_) {
    started_ = true;
    refilled_at_ = now;
    last_summary_at_ = now;
    return;
  }
  if (now <= refilled_at_) return;
  tokens_ = std::min(burst_, tokens_ + static_cast<double>(now - refilled_at_) * per_second_ / 1000.0);
  refilled_at_ = now;
}

bool LineLimiter::admit(Millis now) {
  if (per_second_ == 0) return true;
  refill(now);
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return true;
  }
  ++pending_;
  ++suppressed_total_;
  last_suppressed_at_ = now;
  return false;
}

std::uint64_t LineLimiter::take_summary(Millis now) {
  if (pending_ == 0) return 0;
  refill(now);
  const bool quiet = now - last_suppressed_at_ >= kQuietMs;
  const bool overdue = now - last_summary_at_ >= kSummaryEveryMs;
  if (!quiet && !overdue) return 0;
  std::uint64_t n = pending_;
  pending_ = 0;
  last_summary_at_ = now;
  if (tokens_ >= 1.0) tokens_ -= 1.0;  // the summary is a line too, when there is credit for it
  return n;
}

std::optional<std::string> configure(const SinkOptions& o) {
  std::FILE* file = nullptr;
  if (o.output == Output::File) {
    file = std::fopen(o.file.c_str(), "a");
    if (file == nullptr) return "cannot open log file " + o.file + ": " + std::strerror(errno);
    setvbuf(file, nullptr, _IOLBF, 0);  // whole lines reach the file at once
  }
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  if (s.file != nullptr) std::fclose(s.file);
  s.file = file;
  if (o.output == Output::Syslog && s.output != Output::Syslog) {
    openlog("netpie-edge", LOG_PID | LOG_NDELAY, LOG_DAEMON);
  } else if (o.output != Output::Syslog && s.output == Output::Syslog) {
    closelog();
  }
  s.output = o.output;
  // A new limit starts with a full burst; what the old one had suppressed is reported now.
  const std::uint64_t pending = s.limiter.take_summary(steady_ms() + LineLimiter::kSummaryEveryMs);
  if (pending > 0) emit_summary(s, pending);
  s.limiter = LineLimiter(o.max_lines_per_second, o.burst);
  return std::nullopt;
}

void tick() {
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  if (const std::uint64_t n = s.limiter.take_summary(steady_ms())) emit_summary(s, n);
}

void write(Level lvl, std::string_view component, std::string_view message) {
  Sink& s = sink();
  std::lock_guard lock(s.mu);
  const Millis now = steady_ms();
  if (!s.limiter.admit(now)) return;
  if (const std::uint64_t n = s.limiter.take_summary(now)) emit_summary(s, n);
  emit(s, lvl, component, message);
}

}  // namespace gw::log
