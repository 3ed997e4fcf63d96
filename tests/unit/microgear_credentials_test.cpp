// MQTT credentials, their check and the revoke code (docs/netpie-protocol.md §2, §6.1), and token generation.
// Expected values were computed independently with Python's hmac/hashlib/base64.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "protocols/microgear/credentials.hpp"

namespace gw::microgear {
namespace {

constexpr const char* kKey = "sXfqDcXHzbFXiLk";
constexpr const char* kSecret = "DNonzg2ivwS8ceksykGntrfQjxbL98";
constexpr const char* kToken = "T0k3nAbCdEfGh123";
constexpr const char* kTokenSecret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t12";
constexpr const char* kPassword = "dSZA3XJxO55FzPYOK6GS6zUqCK4=";
constexpr std::int64_t kTime = 1500000000;

TEST(MqttCredentials, Section6_1Vector) {
  const MqttCredentials c = mqtt_credentials(kToken, kTokenSecret, kKey, kSecret, kTime);
  EXPECT_EQ(c.client_id, kToken);
  EXPECT_EQ(c.username, "sXfqDcXHzbFXiLk%1500000000");
  EXPECT_EQ(c.password, kPassword);
  EXPECT_EQ(c.password.size(), 28u);
}

TEST(MqttCredentials, CheckAcceptsTheVectorWithinTheWindow) {
  EXPECT_EQ(check_mqtt_credentials("sXfqDcXHzbFXiLk%1500000000", kPassword, kToken, kTokenSecret, kKey,
                                   kSecret, kTime),
            CredentialCheck::Ok);
  CredentialPolicy strict;
  strict.max_age_seconds = 60;
  strict.max_ahead_seconds = 10;
  strict.require_key_match = true;
  EXPECT_EQ(check_mqtt_credentials("sXfqDcXHzbFXiLk%1500000000", kPassword, kToken, kTokenSecret, kKey,
                                   kSecret, kTime + 60, strict),
            CredentialCheck::Ok);
}

TEST(MqttCredentials, DistinctFailures) {
  const std::string user = "sXfqDcXHzbFXiLk%1500000000";
  CredentialPolicy p;
  p.max_age_seconds = 60;
  p.max_ahead_seconds = 10;
  EXPECT_EQ(check_mqtt_credentials(user, kPassword, kToken, kTokenSecret, kKey, kSecret, kTime + 61, p),
            CredentialCheck::StaleTimestamp);
  EXPECT_EQ(check_mqtt_credentials(user, kPassword, kToken, kTokenSecret, kKey, kSecret, kTime - 11, p),
            CredentialCheck::StaleTimestamp);
  EXPECT_EQ(check_mqtt_credentials(user, "dSZA3XJxO55FzPYOK6GS6zUqCK4A", kToken, kTokenSecret, kKey, kSecret,
                                   kTime, p),
            CredentialCheck::BadHmac);
  EXPECT_EQ(check_mqtt_credentials(user, kPassword, kToken, "wrong", kKey, kSecret, kTime, p),
            CredentialCheck::BadHmac);
  EXPECT_EQ(check_mqtt_credentials(user, kPassword, kToken, kTokenSecret, kKey, "wrong", kTime, p),
            CredentialCheck::BadHmac);
  EXPECT_EQ(check_mqtt_credentials("sXfqDcXHzbFXiLk%1500000001", kPassword, kToken, kTokenSecret, kKey,
                                   kSecret, kTime, p),
            CredentialCheck::BadHmac);
  EXPECT_EQ(check_mqtt_credentials(user, "", kToken, kTokenSecret, kKey, kSecret, kTime, p),
            CredentialCheck::BadHmac);
  for (const char* bad : {"sXfqDcXHzbFXiLk", "sXfqDcXHzbFXiLk%", "%1500000000", "sXfqDcXHzbFXiLk%15e8",
                          "sXfqDcXHzbFXiLk%1234567890123456789", ""}) {
    EXPECT_EQ(check_mqtt_credentials(bad, kPassword, kToken, kTokenSecret, kKey, kSecret, kTime, p),
              CredentialCheck::MalformedUsername)
        << bad;
  }
}

TEST(MqttCredentials, KeyMatchIsPolicy) {
  // Java sends "<AppID>%<time>" (§6.1); the HMAC is over what was sent, so it verifies unless the
  // policy insists on the key.
  const std::string user = "myappid%1500000000";
  const std::string pass = mqtt_password(kToken, kTokenSecret, kSecret, user);
  EXPECT_EQ(check_mqtt_credentials(user, pass, kToken, kTokenSecret, kKey, kSecret, kTime),
            CredentialCheck::Ok);
  CredentialPolicy p;
  p.require_key_match = true;
  EXPECT_EQ(check_mqtt_credentials(user, pass, kToken, kTokenSecret, kKey, kSecret, kTime, p),
            CredentialCheck::WrongKey);
}

TEST(MqttCredentials, BareKeyUsernameWhenTimeIsNotChecked) {
  // The third-party CMMC tool sends just "<gearkey>" (§6.1).
  const std::string pass = mqtt_password(kToken, kTokenSecret, kSecret, kKey);
  EXPECT_EQ(check_mqtt_credentials(kKey, pass, kToken, kTokenSecret, kKey, kSecret, kTime),
            CredentialCheck::MalformedUsername);
  CredentialPolicy p;
  p.check_time = false;
  p.require_key_match = true;
  EXPECT_EQ(check_mqtt_credentials(kKey, pass, kToken, kTokenSecret, kKey, kSecret, kTime, p),
            CredentialCheck::Ok);
}

TEST(MqttCredentials, EspUsernameIsThePartAfterTheToken) {
  // ESP8266 builds "<token>%<key>%<time>" and sends what follows the first '%' (§6.1).
  const std::string full = std::string(kToken) + "%" + kKey + "%1500000000";
  const std::string sent = full.substr(full.find('%') + 1);
  EXPECT_EQ(sent, mqtt_username(kKey, kTime));
  const auto u = parse_mqtt_username(sent);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->key, kKey);
  EXPECT_EQ(u->time, kTime);
}

TEST(RevokeCode, Section2Vectors) {
  EXPECT_EQ(revoke_code(kToken, kTokenSecret, kSecret), "07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8=");
  // A token whose code contains '/' (python: ...b64encode(...).replace('/', '_')).
  EXPECT_EQ(revoke_code("T0k3nAbCdEfG0001", kTokenSecret, kSecret), "d6dmsLqy_bGTIJ_mi+7PRW4_fg0=");
  EXPECT_TRUE(check_revoke_code("d6dmsLqy_bGTIJ_mi+7PRW4_fg0=", "T0k3nAbCdEfG0001", kTokenSecret, kSecret));
  EXPECT_FALSE(check_revoke_code("d6dmsLqy/bGTIJ/mi+7PRW4/fg0=", "T0k3nAbCdEfG0001", kTokenSecret, kSecret));
  EXPECT_FALSE(check_revoke_code("07Lpy1Vs8Qyfn3eF73fa5Zhq8Y8=", "T0k3nAbCdEfG0001", kTokenSecret, kSecret));
  EXPECT_FALSE(check_revoke_code("", kToken, kTokenSecret, kSecret));
}

TEST(TokenGeneration, BytesMapUniformlyOntoTheAlphabet) {
  std::vector<std::uint8_t> bytes;
  for (int i = 0; i < 62; ++i) bytes.push_back(static_cast<std::uint8_t>(i));
  EXPECT_EQ(token_from_bytes(bytes, 62).value(), kTokenAlphabet);
  // 62..247 wrap around; 248..255 are rejected (they would bias the first 8 characters).
  const std::vector<std::uint8_t> wrap{62, 248, 255, 123, 247};
  EXPECT_EQ(token_from_bytes(wrap, 3).value(), "A" + std::string(1, kTokenAlphabet[123 % 62]) + "9");
  EXPECT_FALSE(token_from_bytes(std::vector<std::uint8_t>{250, 251, 1}, 2));
  EXPECT_EQ(token_from_bytes({}, 0).value(), "");
}

TEST(TokenGeneration, TokensAndSecretsHaveTheFixedWidths) {
  std::uint8_t counter = 0;
  const RandomSource rng = [&](std::span<std::uint8_t> out) {
    for (auto& b : out) b = counter++;  // deterministic, includes rejected bytes
  };
  const std::string t = make_token(rng);
  const std::string s = make_secret(rng);
  EXPECT_EQ(t.size(), kTokenLength);
  EXPECT_EQ(s.size(), kSecretLength);
  for (char c : t + s) EXPECT_NE(kTokenAlphabet.find(c), std::string_view::npos) << c;
  EXPECT_NE(t, s.substr(0, 16));
}

TEST(TokenGeneration, SourceThatMostlyRejectsStillFinishes) {
  int calls = 0;
  const RandomSource rng = [&](std::span<std::uint8_t> out) {
    ++calls;
    std::fill(out.begin(), out.end(), std::uint8_t{255});
    if (calls > 3) out[0] = 7;
  };
  EXPECT_EQ(random_token(rng, 2), std::string(2, kTokenAlphabet[7]));
}

}  // namespace
}  // namespace gw::microgear
