// Levelled one-line logging: `2026-11-27T12:00:00.123Z INFO  broker: message`. One global sink (stderr,
// syslog or a file) with a line rate limit, and a level that SIGHUP can change at run time. A disabled
// level costs one relaxed atomic load: GW_LOG formats nothing then. Not for the codecs, which never log.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/base/clock.hpp"

namespace gw::log {

enum class Level { Trace = 0, Debug, Info, Warn, Error, Off };

std::optional<Level> parse_level(std::string_view name);
std::string_view level_name(Level level);

void set_level(Level level);
Level level();
inline bool enabled(Level l) {
  return l >= level();
}

// When on, each line starts with its syslog priority, "<3>" error ... "<7>" debug (sd-daemon(3)), so that
// journald files it at the right priority. Off by default.
void set_priority_prefix(bool on);
// Whether stderr is the journal stream systemd connected us to: $JOURNAL_STREAM ("<dev>:<inode>") names
// the device and inode of stderr (systemd.exec(5)), which a redirected stderr no longer matches.
bool stderr_is_journal();

enum class Output { Stderr, Syslog, File };
std::optional<Output> parse_output(std::string_view name);
// The syslog(3) priority of a level (trace and debug are both LOG_DEBUG).
int syslog_priority(Level level);

// A token bucket for log lines: `per_second` lines a second with `burst` lines of credit (per_second 0 =
// no limit). Lines over it are counted, not written; once a whole second has passed without a
// suppression (the rate dropped), or every kSummaryEveryMs during a long storm, take_summary() hands out
// the count for one "suppressed N lines" line. Pure: time comes from the caller.
class LineLimiter {
 public:
  static constexpr Millis kQuietMs = 1000;
  static constexpr Millis kSummaryEveryMs = 60'000;
  LineLimiter(std::uint32_t per_second, std::uint32_t burst);
  // Whether a line may be written now; false counts it as suppressed.
  bool admit(Millis now);
  // The number of lines suppressed since the last summary, when a summary is due now; else 0.
  std::uint64_t take_summary(Millis now);
  std::uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  void refill(Millis now);
  std::uint32_t per_second_;
  double burst_;
  double tokens_;
  Millis refilled_at_ = 0;
  bool started_ = false;
  std::uint64_t pending_ = 0;  // suppressed since the last summary
  Millis last_suppressed_at_ = 0;
  Millis last_summary_at_ = 0;
  std::uint64_t suppressed_total_ = 0;
};

struct SinkOptions {
  Output output = Output::Stderr;
  std::string file;                         // Output::File: appended to, created if missing
  std::uint32_t max_lines_per_second = 50;  // 0 = no limit
  std::uint32_t burst = 500;
};
// Switches the sink (a file is reopened even if unchanged, so a rotated log gets a new file). On failure
// (the file cannot be opened) the current sink stays and the error says why.
std::optional<std::string> configure(const SinkOptions& options);
// Writes the "suppressed N lines" summary when it is due; the daemon calls it from its tick timer.
void tick();

// Writes one line; `component` names the subsystem (broker, net, config, store, uplink ...).
void write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void logf(Level lvl, std::string_view component, const char* fmt, Args... args) {
  if (!enabled(lvl)) return;
  if constexpr (sizeof...(Args) == 0) {
    // A message without arguments is written as it is: passing it to snprintf as a format would trip
    // -Wformat-security (an error under Debian's dpkg-buildflags).
    write(lvl, component, fmt);
  } else {
    char buf[1024];
    int n = std::snprintf(buf, sizeof buf, fmt, args...);
    if (n < 0) return;
    write(lvl, component, std::string_view(buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1));
  }
}

}  // namespace gw::log

#define GW_LOG(lvl, comp, ...) ::gw::log::logf(::gw::log::Level::lvl, comp, __VA_ARGS__)
