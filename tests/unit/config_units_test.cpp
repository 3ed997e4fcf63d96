// Integers and byte sizes as the config file spells them (gateway/config/units.hpp).
#include <gtest/gtest.h>

#include "gateway/config/units.hpp"

namespace gw::config {
namespace {

TEST(ConfigUnits, ParseUint) {
  EXPECT_EQ(parse_uint("0"), 0u);
  EXPECT_EQ(parse_uint("1883"), 1883u);
  EXPECT_EQ(parse_uint("18446744073709551615"), UINT64_MAX);
  for (const char* bad :
       {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1_000", "18446744073709551616", "abc"}) {
    EXPECT_FALSE(parse_uint(bad).has_value()) << bad;
  }
}

TEST(ConfigUnits, ByteSizeUnits) {
  EXPECT_EQ(parse_byte_size("0"), 0u);
  EXPECT_EQ(parse_byte_size("1000"), 1000u);
  EXPECT_EQ(parse_byte_size("7B"), 7u);
  EXPECT_EQ(parse_byte_size("1KiB"), 1024u);
  EXPECT_EQ(parse_byte_size("512KiB"), 512u * 1024);
  EXPECT_EQ(parse_byte_size("16MiB"), 16u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("3GiB"), 3ull << 30);
  EXPECT_EQ(parse_byte_size("2TiB"), 2ull << 40);
  EXPECT_EQ(parse_byte_size("1KB"), 1000u);
  EXPECT_EQ(parse_byte_size("5MB"), 5'000'000u);
  EXPECT_EQ(parse_byte_size("1GB"), 1'000'000'000u);
  EXPECT_EQ(parse_byte_size("1TB"), 1'000'000'000'000u);
  // Units are case-insensitive and may follow spaces.
  EXPECT_EQ(parse_byte_size("16mib"), 16u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("16 MiB"), 16u * 1024 * 1024);
  EXPECT_EQ(parse_byte_size("64kb"), 64'000u);
  EXPECT_EQ(parse_byte_size("16777215TiB"), 16777215ull << 40);
}

TEST(ConfigUnits, ByteSizeRejects) {
  for (const char* bad : {"", "MiB", "16M", "16K", "16 ", "16MiB ", " 16MiB", "1.5MiB", "-1KiB", "16MiBs",
                          "16 Mi B", "0x10", "16777216TiB", "18446744073709551616"}) {
    EXPECT_FALSE(parse_byte_size(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(ConfigUnits, FormatPicksTheLargestExactBinaryUnit) {
  EXPECT_EQ(format_byte_size(0), "0");
  EXPECT_EQ(format_byte_size(64), "64");
  EXPECT_EQ(format_byte_size(1000), "1000");
  EXPECT_EQ(format_byte_size(1024), "1KiB");
  EXPECT_EQ(format_byte_size(1536), "1536");
  EXPECT_EQ(format_byte_size(16384), "16KiB");
  EXPECT_EQ(format_byte_size(16u * 1024 * 1024), "16MiB");
  EXPECT_EQ(format_byte_size(1ull << 30), "1GiB");
  EXPECT_EQ(format_byte_size(1ull << 40), "1TiB");
  EXPECT_EQ(format_byte_size(268435460), "268435460");
  for (std::uint64_t v : {0ull, 64ull, 1536ull, 16384ull, 1ull << 30, 5ull << 40, 268435460ull}) {
    EXPECT_EQ(parse_byte_size(format_byte_size(v)), v) << v;
  }
}

}  // namespace
}  // namespace gw::config
