// PBKDF2-HMAC-SHA256 password hashes (gateway/config/password.hpp). The fixed vectors were computed
// independently of this code: RFC 7914 §11 and Python's hashlib.pbkdf2_hmac.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/config/password.hpp"

namespace gw::config {
namespace {

std::vector<std::uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

// python3 -c "import hashlib,base64; s=bytes(range(16));
//   print(base64.b64encode(hashlib.pbkdf2_hmac('sha256', b'correct horse battery staple', s, 100000, 32)))"
const std::string kHorse =
    "pbkdf2-sha256$100000$AAECAwQFBgcICQoLDA0ODw==$SdScJfWXhGIJ8Nkud3CrZOHHXpS0zmxQkmXuZxddKh4=";

TEST(ConfigPassword, MatchesPythonHashlib) {
  std::array<std::uint8_t, 16> salt{};
  for (std::size_t i = 0; i < salt.size(); ++i) salt[i] = static_cast<std::uint8_t>(i);
  EXPECT_EQ(hash_password("correct horse battery staple", salt), kHorse);  // default iterations: 100000
  EXPECT_EQ(hash_password("s3cret", bytes_of("netpie-edge-salt"), 1000),
            "pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI=");
  // A UTF-8 password ("password" in Thai) and a salt with zero bytes.
  std::vector<std::uint8_t> zeros_and_ones;
  for (int i = 0; i < 8; ++i) {
    zeros_and_ones.push_back(0x00);
    zeros_and_ones.push_back(0xff);
  }
  EXPECT_EQ(
      hash_password(
          "\xe0\xb8\xa3\xe0\xb8\xab\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x9c\xe0\xb9\x88\xe0\xb8\xb2\xe0\xb8\x99",
          zeros_and_ones, 4096),
      "pbkdf2-sha256$4096$AP8A/wD/AP8A/wD/AP8A/w==$K+QQGE/eVn6y/feKIHHZQMaEEL3nWHMGN1jGrLO/Idw=");
}

TEST(ConfigPassword, MatchesRfc7914Vector) {
  // RFC 7914 §11: PBKDF2-HMAC-SHA256, P = "passwd", S = "salt", c = 1; the first 32 of its 64 bytes are
  // 55 ac 04 6e 56 e3 08 9f ec 16 91 c2 25 44 b6 05 f9 41 85 21 6d de 04 65 e6 8b 9d 57 c2 0d ac bc.
  EXPECT_EQ(hash_password("passwd", bytes_of("salt"), 1),
            "pbkdf2-sha256$1$c2FsdA==$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=");
}

TEST(ConfigPassword, VerifiesTheFixedVectors) {
  EXPECT_TRUE(verify_password("correct horse battery staple", kHorse));
  EXPECT_FALSE(verify_password("correct horse battery stapler", kHorse));
  EXPECT_FALSE(verify_password("", kHorse));
  EXPECT_TRUE(
      verify_password("passwd", "pbkdf2-sha256$1$c2FsdA==$VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="));
}

TEST(ConfigPassword, MakeHashRoundTrip) {
  std::string a = make_password_hash("open sesame");
  std::string b = make_password_hash("open sesame");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(is_valid_password_hash(a)) << password_hash_problem(a);
  EXPECT_EQ(a.rfind("pbkdf2-sha256$100000$", 0), 0u) << a;
  EXPECT_TRUE(verify_password("open sesame", a));
  EXPECT_FALSE(verify_password("open sesame!", a));
  EXPECT_FALSE(verify_password("Open sesame", a));
  EXPECT_NE(a, b);  // fresh salts
  EXPECT_TRUE(verify_password("open sesame", b));
}

TEST(ConfigPassword, EmptyPasswordIsHashedLikeAnyOther) {
  std::string h = hash_password("", bytes_of("salt"), 10);
  ASSERT_FALSE(h.empty());
  EXPECT_TRUE(verify_password("", h));
  EXPECT_FALSE(verify_password(" ", h));
}

TEST(ConfigPassword, TamperedHashesDoNotVerify) {
  const std::string good =
      "pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI=";
  ASSERT_TRUE(verify_password("s3cret", good));
  // One hash character changed (still canonical base64 of 32 bytes).
  EXPECT_FALSE(verify_password(
      "s3cret", "pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdA==$J2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI="));
  // Iteration count changed.
  EXPECT_FALSE(verify_password(
      "s3cret", "pbkdf2-sha256$1001$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI="));
  // Salt changed ("netpie-edge-salu").
  EXPECT_FALSE(verify_password(
      "s3cret", "pbkdf2-sha256$1000$bmV0cGllLWVkZ2Utc2FsdQ==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI="));
  // Scheme changed.
  EXPECT_FALSE(verify_password(
      "s3cret", "pbkdf2-sha512$1000$bmV0cGllLWVkZ2Utc2FsdA==$I2HHghzUDjyYGR5yWvyn8DvehH73BljPR9pUYwLoeFI="));
}

TEST(ConfigPassword, MalformedHashesAreNamed) {
  const std::string salt = "c2FsdA==";
  const std::string hash = "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrLw=";
  auto with = [&](const std::string& iter, const std::string& s, const std::string& h) {
    return "pbkdf2-sha256$" + iter + "$" + s + "$" + h;
  };
  ASSERT_TRUE(is_valid_password_hash(with("1", salt, hash)));
  struct Case {
    std::string encoded;
    std::string_view problem;
  };
  const std::string_view scheme = "unknown scheme; a hash starts with \"pbkdf2-sha256$\"";
  const std::string_view fields = "expected 4 '$'-separated fields: scheme, iterations, salt, hash";
  const std::string_view iterations = "iteration count must be a decimal integer from 1 to 10000000";
  const std::string_view bad_salt = "salt is not canonical padded base64";
  const std::string_view salt_size = "salt must be 1 to 64 bytes";
  const std::string_view bad_hash = "hash is not canonical padded base64";
  const std::string_view hash_size = "hash must be 32 bytes (44 base64 characters)";
  const std::vector<Case> cases = {
      {"", scheme},
      {"hunter2", scheme},
      {"PBKDF2-SHA256$1$" + salt + "$" + hash, scheme},
      {"$pbkdf2-sha256$1$" + salt + "$" + hash, scheme},  // passlib's spelling
      {"pbkdf2-sha256", fields},
      {"pbkdf2-sha256$1$" + salt, fields},
      {with("1", salt, hash) + "$", fields},
      {with("0", salt, hash), iterations},
      {with("", salt, hash), iterations},
      {with("01", salt, hash), iterations},
      {with("+1", salt, hash), iterations},
      {with("1e3", salt, hash), iterations},
      {with("10000001", salt, hash), iterations},
      {with("99999999999", salt, hash), iterations},
      {with("1", "c2FsdA", hash), bad_salt},     // padding missing
      {with("1", "c2FsdB==", hash), bad_salt},   // stray bits in the last character
      {with("1", "c2Fs dA==", hash), bad_salt},  // whitespace
      {with("1", "c2FsdA==\n", hash), bad_salt},
      {with("1", "c2F*dA==", hash), bad_salt},
      {with("1", "", hash), salt_size},
      {with("1", std::string(88, 'A'), hash), salt_size},  // 66 bytes
      {with("1", salt, hash.substr(0, 43)), bad_hash},
      {with("1", salt, "VawEblbjCJ_sFpHCJUS2BflBhSFt3gRl5oudV8INrLw="), bad_hash},  // base64url
      {with("1", salt, "VawEblbjCJ/sFpHCJUS2BflBhSFt3gRl5oudV8INrL=="), bad_hash},
      {with("1", salt, "c2FsdA=="), hash_size},
      {with("1", salt, std::string(44, 'A')), hash_size},  // 33 bytes
  };
  for (const Case& c : cases) {
    EXPECT_EQ(password_hash_problem(c.encoded), c.problem) << c.encoded;
    EXPECT_FALSE(is_valid_password_hash(c.encoded)) << c.encoded;
    EXPECT_FALSE(verify_password("passwd", c.encoded)) << c.encoded;
  }
  EXPECT_TRUE(is_valid_password_hash(with("10000000", salt, hash)));
  EXPECT_TRUE(is_valid_password_hash(with("1", std::string(84, 'A') + "AA==", hash)));  // 64 bytes
}

TEST(ConfigPassword, HashRefusesParametersItWouldNotAccept) {
  EXPECT_EQ(hash_password("x", bytes_of("salt"), 0), "");
  EXPECT_EQ(hash_password("x", bytes_of("salt"), kMaxPasswordIterations + 1), "");
  EXPECT_EQ(hash_password("x", {}, 1), "");
  EXPECT_EQ(hash_password("x", std::vector<std::uint8_t>(65, 1), 1), "");
  EXPECT_FALSE(hash_password("x", std::vector<std::uint8_t>(64, 1), 1).empty());
}

}  // namespace
}  // namespace gw::config
