// Levelled one-line logging: `2026-11-27T12:00:00.123Z INFO  broker: message`. One global sink
// (stderr by default) and a level that SIGHUP can change at run time. Not for the codecs, which never log.
#pragma once

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

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

// Writes one line; `component` names the subsystem (broker, net, config, store, uplink ...).
void write(Level level, std::string_view component, std::string_view message);

template <typename... Args>
void logf(Level lvl, std::string_view component, const char* fmt, Args... args) {
  if (!enabled(lvl)) return;
  char buf[1024];
  int n = std::snprintf(buf, sizeof buf, fmt, args...);
  if (n < 0) return;
  write(lvl, component, std::string_view(buf, static_cast<size_t>(n) < sizeof buf ? n : sizeof buf - 1));
}

}  // namespace gw::log

#define GW_LOG(lvl, comp, ...) ::gw::log::logf(::gw::log::Level::lvl, comp, __VA_ARGS__)
