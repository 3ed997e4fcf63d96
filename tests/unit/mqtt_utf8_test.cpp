// UTF-8 validation for MQTT strings (MQTT 5.0 §1.5.4): well-formed per RFC 3629 (no overlong forms, no
// UTF-16 surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated sequences) and no U+0000.
// Control characters and non-characters are allowed (the spec says "should not", not "must not");
// has_control_character finds the controls that topics and client ids refuse.
#include <gtest/gtest.h>

#include <string>

#include "protocols/mqtt/topic.hpp"

namespace gw::mqtt {
namespace {

struct Row {
  std::string bytes;
  bool valid;
  const char* what;
};

std::string s(const char* p, std::size_t n) {
  return std::string(p, n);
}

const Row kRows[] = {
    {"", true, "empty"},
    {"hello", true, "ASCII"},
    {"\x01", true, "U+0001 control"},
    {"\x1F", true, "U+001F control"},
    {"\x7F", true, "U+007F DEL"},
    {"\xC2\x80", true, "U+0080 first two-byte"},
    {"\xC2\x9F", true, "U+009F C1 control"},
    {"\xDF\xBF", true, "U+07FF last two-byte"},
    {"\xE0\xA0\x80", true, "U+0800 first three-byte"},
    {"\xED\x9F\xBF", true, "U+D7FF just below the surrogates"},
    {"\xEE\x80\x80", true, "U+E000 just above the surrogates"},
    {"\xEF\xBB\xBF", true, "U+FEFF BOM is kept, not stripped"},
    {"\xEF\xBF\xBF", true, "U+FFFF non-character"},
    {"\xF0\x90\x80\x80", true, "U+10000 first four-byte"},
    {"\xF4\x8F\xBF\xBF", true, "U+10FFFF maximum"},
    {"\xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xB1\xE0\xB8\xAA\xE0\xB8\x94\xE0\xB8\xB5", true, "Thai"},
    {"abcdefghijklmnopqrstuvwxyz\xE0\xB8\x81", true, "long ASCII run then a multi-byte character"},
    {"\xF0\x9F\x98\x80"
     "abcdefghij",
     true, "emoji then ASCII"},

    {s("\0", 1), false, "U+0000"},
    {s("abcdefgh\0ijk", 12), false, "U+0000 inside an eight-byte ASCII block"},
    {s("abcdefghijklmno\0", 16), false, "U+0000 at the end of a block"},
    {"\xC0\x80", false, "overlong U+0000"},
    {"\xC0\xAF", false, "overlong '/' in two bytes"},
    {"\xE0\x80\xAF", false, "overlong '/' in three bytes"},
    {"\xF0\x80\x80\xAF", false, "overlong '/' in four bytes"},
    {"\xC1\xBF", false, "overlong U+007F"},
    {"\xE0\x9F\xBF", false, "overlong U+07FF"},
    {"\xF0\x8F\xBF\xBF", false, "overlong U+FFFF"},
    {"\xED\xA0\x80", false, "U+D800 high surrogate"},
    {"\xED\xAF\xBF", false, "U+DBFF"},
    {"\xED\xB0\x80", false, "U+DC00 low surrogate"},
    {"\xED\xBF\xBF", false, "U+DFFF"},
    {"\xED\xA0\xBD\xED\xB8\x80", false, "CESU-8 surrogate pair"},
    {"\xF4\x90\x80\x80", false, "U+110000"},
    {"\xF5\x80\x80\x80", false, "lead byte F5"},
    {"\xF8\x88\x80\x80\x80", false, "five-byte form"},
    {"\xFC\x84\x80\x80\x80\x80", false, "six-byte form"},
    {"\xFE", false, "byte FE"},
    {"\xFF", false, "byte FF"},
    {"\x80", false, "lone continuation"},
    {"\xBF", false, "lone continuation BF"},
    {"\xC3", false, "truncated two-byte"},
    {"\xE0\xA0", false, "truncated three-byte"},
    {"\xF0\x90\x80", false, "truncated four-byte"},
    {"a\xE2\x82", false, "truncated at the end"},
    {"\xC3\x28", false, "bad continuation in two-byte"},
    {"\xE2\x28\xA1", false, "bad second byte in three-byte"},
    {"\xE2\x82\x28", false, "bad third byte in three-byte"},
    {"\xF0\x90\x28\xBC", false, "bad third byte in four-byte"},
    {"\xF0\x90\x80\x28", false, "bad fourth byte in four-byte"},
    {"aaaaaaaaaaaaaaaa\xFF", false, "invalid byte after a long ASCII run"},
};

TEST(MqttUtf8, Table) {
  for (const auto& row : kRows) {
    EXPECT_EQ(is_valid_utf8(row.bytes), row.valid) << row.what;
  }
}

TEST(MqttUtf8, EveryCodePointRoundTrips) {
  // Encode every scalar value by hand (RFC 3629 §3) and check the validator accepts exactly those.
  for (char32_t cp = 1; cp <= 0x10FFFF; ++cp) {
    std::string u;
    if (cp < 0x80) {
      u += static_cast<char>(cp);
    } else if (cp < 0x800) {
      u += static_cast<char>(0xC0 | (cp >> 6));
      u += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      u += static_cast<char>(0xE0 | (cp >> 12));
      u += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      u += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      u += static_cast<char>(0xF0 | (cp >> 18));
      u += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      u += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      u += static_cast<char>(0x80 | (cp & 0x3F));
    }
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(is_valid_utf8(u), !surrogate) << std::hex << static_cast<unsigned>(cp);
    // Topics and client ids refuse exactly the C0 and C1 controls (and DEL), also after an ASCII run.
    const bool control = cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F);
    if (!surrogate) {
      ASSERT_EQ(has_control_character("abcdefgh" + u), control) << std::hex << static_cast<unsigned>(cp);
    }
  }
}

}  // namespace
}  // namespace gw::mqtt
