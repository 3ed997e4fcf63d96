// PBKDF2-HMAC-SHA256 password hashes over mbedTLS (mbedcrypto only: md, pkcs5, base64).
// Parsing is strict: one scheme, a decimal iteration count without leading zeros, and canonical padded
// base64 (the text must re-encode to itself), so a stored hash has exactly one spelling.
#include "gateway/config/password.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <optional>
#include <vector>

#include <mbedtls/base64.h>
#include <mbedtls/platform_util.h>
#include <sys/random.h>

#include "gateway/base/mbedtls_compat.hpp"

namespace gw::config {
namespace {

constexpr std::string_view kScheme = "pbkdf2-sha256";
constexpr std::size_t kHashBytes = 32;  // the SHA-256 output size, so PBKDF2 computes a single block
using Digest = std::array<std::uint8_t, kHashBytes>;

// Wipes a derived key when it goes out of scope, so it does not linger on the stack.
struct WipedDigest {
  Digest bytes{};
  WipedDigest() = default;
  WipedDigest(const WipedDigest&) = delete;
  WipedDigest& operator=(const WipedDigest&) = delete;
  ~WipedDigest() { mbedtls_platform_zeroize(bytes.data(), bytes.size()); }
};

bool pbkdf2_sha256(std::string_view password, std::span<const std::uint8_t> salt, std::uint32_t iterations,
                   Digest& out) {
  return mbed::pbkdf2_sha256(reinterpret_cast<const unsigned char*>(password.data()), password.size(),
                             salt.data(), salt.size(), iterations, static_cast<std::uint32_t>(out.size()),
                             out.data()) == 0;
}

std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::size_t needed = 0;
  // With an empty destination mbedTLS reports the size it needs, terminating NUL included.
  mbedtls_base64_encode(nullptr, 0, &needed, bytes.data(), bytes.size());
  std::string out(needed, '\0');
  std::size_t written = 0;
  if (mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &written, bytes.data(),
                            bytes.size()) != 0) {
    return {};
  }
  out.resize(written);
  return out;
}

// Decodes padded base64 and accepts it only if it is the canonical spelling of its bytes: no whitespace,
// no missing padding, no stray bits in the last character.
std::optional<std::vector<std::uint8_t>> base64_decode_canonical(std::string_view text) {
  if (text.empty()) return std::vector<std::uint8_t>{};
  const auto* src = reinterpret_cast<const unsigned char*>(text.data());
  std::size_t needed = 0;
  int rc = mbedtls_base64_decode(nullptr, 0, &needed, src, text.size());
  if (rc == MBEDTLS_ERR_BASE64_INVALID_CHARACTER) return std::nullopt;
  std::vector<std::uint8_t> out(needed);
  std::size_t written = 0;
  if (mbedtls_base64_decode(out.data(), out.size(), &written, src, text.size()) != 0) return std::nullopt;
  out.resize(written);
  if (base64_encode(out) != text) return std::nullopt;
  return out;
}

struct ParsedHash {
  std::uint32_t iterations = 0;
  std::vector<std::uint8_t> salt;
  Digest hash{};
};

// Splits and checks an encoded hash; on failure `problem` says why.
std::optional<ParsedHash> parse_hash(std::string_view encoded, std::string_view& problem) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    std::size_t dollar = encoded.find('$', start);
    parts.push_back(encoded.substr(start, dollar == std::string_view::npos ? dollar : dollar - start));
    if (dollar == std::string_view::npos) break;
    start = dollar + 1;
  }
  if (parts[0] != kScheme) {
    problem = "unknown scheme; a hash starts with \"pbkdf2-sha256$\"";
    return std::nullopt;
  }
  if (parts.size() != 4) {
    problem = "expected 4 '$'-separated fields: scheme, iterations, salt, hash";
    return std::nullopt;
  }
  ParsedHash out;
  static_assert(kMaxPasswordIterations == 10'000'000, "update the message below");
  std::string_view iter = parts[1];
  auto [end, ec] = std::from_chars(iter.data(), iter.data() + iter.size(), out.iterations);
  if (iter.empty() || ec != std::errc{} || end != iter.data() + iter.size() || iter[0] == '0' ||
      out.iterations > kMaxPasswordIterations) {
    problem = "iteration count must be a decimal integer from 1 to 10000000";
    return std::nullopt;
  }
  auto salt = base64_decode_canonical(parts[2]);
  if (!salt) {
    problem = "salt is not canonical padded base64";
    return std::nullopt;
  }
  if (salt->size() < kMinSaltBytes || salt->size() > kMaxSaltBytes) {
    problem = "salt must be 1 to 64 bytes";
    return std::nullopt;
  }
  out.salt = std::move(*salt);
  auto hash = base64_decode_canonical(parts[3]);
  if (!hash) {
    problem = "hash is not canonical padded base64";
    return std::nullopt;
  }
  if (hash->size() != kHashBytes) {
    problem = "hash must be 32 bytes (44 base64 characters)";
    return std::nullopt;
  }
  std::copy(hash->begin(), hash->end(), out.hash.begin());
  return out;
}

// The time taken depends on the length only, never on where the bytes differ. (mbedTLS 2.28 has
// mbedtls_ct_memcmp, but its header lacks the extern "C" guard, so C++ cannot link it.)
bool equal_constant_time(const Digest& a, const Digest& b) {
  volatile std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = static_cast<std::uint8_t>(diff | (a[i] ^ b[i]));
  return diff == 0;
}

bool fill_random(std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = getrandom(out.data() + got, out.size() - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // ENOSYS on an old kernel: fall back to the device
    }
  }
  if (got == out.size()) return true;
  std::FILE* f = std::fopen("/dev/urandom", "rb");
  if (f == nullptr) return false;
  got = std::fread(out.data(), 1, out.size(), f);
  std::fclose(f);
  return got == out.size();
}

}  // namespace

std::string hash_password(std::string_view password, std::span<const std::uint8_t> salt,
                          std::uint32_t iterations) {
  if (iterations < 1 || iterations > kMaxPasswordIterations) return {};
  if (salt.size() < kMinSaltBytes || salt.size() > kMaxSaltBytes) return {};
  WipedDigest derived;
  if (!pbkdf2_sha256(password, salt, iterations, derived.bytes)) return {};
  std::string out(kScheme);
  out += '$';
  out += std::to_string(iterations);
  out += '$';
  out += base64_encode(salt);
  out += '$';
  out += base64_encode(derived.bytes);
  return out;
}

std::string make_password_hash(std::string_view password) {
  std::array<std::uint8_t, kPasswordSaltBytes> salt{};
  if (!fill_random(salt)) return {};
  return hash_password(password, salt);
}

bool verify_password(std::string_view password, std::string_view encoded) {
  std::string_view problem;
  auto parsed = parse_hash(encoded, problem);
  if (!parsed) return false;
  WipedDigest derived;
  if (!pbkdf2_sha256(password, parsed->salt, parsed->iterations, derived.bytes)) return false;
  return equal_constant_time(derived.bytes, parsed->hash);
}

std::string_view password_hash_problem(std::string_view encoded) {
  std::string_view problem;
  if (parse_hash(encoded, problem)) return {};
  return problem;
}

bool is_valid_password_hash(std::string_view encoded) {
  return password_hash_problem(encoded).empty();
}

}  // namespace gw::config
