// NETPIE feed wire formats (docs/netpie-protocol.md §7.3, §9.2): the values of a write, as the REST
// `data=temp:25.7,humid:52.4` form, the microgear `@writefeed` JSON object of numbers and the ESP8266
// library's unquoted-key form `{temp:25.7,humid:52.4}`; and the `<n><unit>` durations of `since` and
// `granularity` (`24hour`, `10minute`, and the Freeboard datasource's plural `5minutes`). Pure: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/base/result.hpp"

namespace gw::microgear {

inline constexpr std::size_t kMaxFeedFieldName = 64;

struct FieldValue {
  std::string field;
  double value = 0;
  bool operator==(const FieldValue&) const = default;
};

// A field name: 1 to 64 bytes of [A-Za-z0-9_.-].
bool valid_feed_field(std::string_view name);
// A feed id: 1 to 64 bytes of [A-Za-z0-9_.-].
bool valid_feed_id(std::string_view id);

// Values of one write, in any of the three forms: `k:v,k:v`, `{"k":v,...}` or `{k:v,...}` (a value may
// also be a quoted number, as Python's writeFeed sends what it is given). Refused with a message that
// names the first fault: no values, a bad field name, a value that is not a finite decimal number, a
// field given twice, more than `max_fields` values.
Result<std::vector<FieldValue>, std::string> parse_feed_values(std::string_view text, std::size_t max_fields);

enum class TimeUnit { Second, Minute, Hour, Day, Month, Year };

struct Duration {
  std::int64_t count = 0;
  TimeUnit unit = TimeUnit::Second;
  std::int64_t ms() const;
};

// Months are 30 days and years 12 such months, as NETPIE's Freeboard widgets count them.
std::int64_t unit_ms(TimeUnit u);
// The plural the Freeboard widgets read back in `granularity` ("seconds" ... "years").
std::string_view unit_plural(TimeUnit u);

// `<n><unit>`: n from 1 to 1,000,000, unit second, minute, hour, day, month or year, singular or plural.
Result<Duration, std::string> parse_duration(std::string_view text);

}  // namespace gw::microgear
