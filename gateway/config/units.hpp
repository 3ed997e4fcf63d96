// Scalar spellings the config file accepts: plain decimal integers, and byte sizes with an optional unit
// (16MiB, 512 KiB, 1GB). Pure functions over text, shared by the loader and its tests.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gw::config {

// A decimal integer: digits only, no sign, no spaces, no digit separators; nullopt on overflow.
std::optional<std::uint64_t> parse_uint(std::string_view text);

// A byte count: a decimal integer, optionally followed by spaces and a unit, matched case-insensitively:
// B; KB, MB, GB, TB (powers of 1000); KiB, MiB, GiB, TiB (powers of 1024). nullopt if malformed or if
// the result does not fit in 64 bits.
std::optional<std::uint64_t> parse_byte_size(std::string_view text);

// The shortest exact spelling that parse_byte_size reads back: "16MiB", "1GiB", "1000", "64".
std::string format_byte_size(std::uint64_t bytes);

}  // namespace gw::config
