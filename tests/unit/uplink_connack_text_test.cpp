// The uplink's CONNACK log text (protocols/uplink/connack_text.hpp): a 3.1/3.1.1 refusal is named by its
// return code, a 5.0 refusal by its reason code.
#include <gtest/gtest.h>

#include "protocols/uplink/connack_text.hpp"

namespace gw::uplink {
namespace {

using mqtt::Reason;
using mqtt::Version;

TEST(ConnackText, V311RefusalsUseTheReturnCode) {
  // The codec maps 3.1.1 return code 4 onto 0x86; the log must say 4 (it said "0x86").
  EXPECT_EQ(connack_text(Version::V311, Reason::BadUserNameOrPassword),
            "CONNACK 4 (bad user name or password)");
  EXPECT_EQ(connack_text(Version::V311, Reason::NotAuthorized), "CONNACK 5 (not authorized)");
  EXPECT_EQ(connack_text(Version::V311, Reason::ServerUnavailable), "CONNACK 3 (server unavailable)");
  EXPECT_EQ(connack_text(Version::V311, Reason::ClientIdentifierNotValid), "CONNACK 2 (identifier rejected)");
  EXPECT_EQ(connack_text(Version::V311, Reason::UnsupportedProtocolVersion),
            "CONNACK 1 (unacceptable protocol version)");
  EXPECT_EQ(connack_text(Version::V31, Reason::BadUserNameOrPassword),
            "CONNACK 4 (bad user name or password)");
}

TEST(ConnackText, V5RefusalsUseTheReasonCode) {
  EXPECT_EQ(connack_text(Version::V5, Reason::BadUserNameOrPassword),
            "CONNACK 0x86 (bad user name or password)");
  EXPECT_EQ(connack_text(Version::V5, Reason::Banned), "CONNACK 0x8a (banned)");
  EXPECT_EQ(connack_text(Version::V5, Reason::UseAnotherServer), "CONNACK 0x9c (use another server)");
}

}  // namespace
}  // namespace gw::uplink
