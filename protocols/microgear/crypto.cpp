// HMAC-SHA1, base64 and constant-time compare over mbedTLS 2.28 (see crypto.hpp).
#include "protocols/microgear/crypto.hpp"

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

// mbedTLS 2.28's constant_time.h lacks the extern "C" guard its other public headers have.
extern "C" {
#include <mbedtls/constant_time.h>
}

namespace gw::microgear {

Sha1Digest hmac_sha1(std::string_view key, std::string_view message) {
  Sha1Digest out{};
  // Cannot fail for SHA-1 with valid pointers; the digest type is compiled into every mbedTLS build.
  mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1),
                  reinterpret_cast<const unsigned char*>(key.data()), key.size(),
                  reinterpret_cast<const unsigned char*>(message.data()), message.size(), out.data());
  return out;
}

std::string base64_encode(const std::uint8_t* data, std::size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  std::size_t n = 0;
  mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &n, data, len);
  out.resize(n);
  return out;
}

std::string hmac_sha1_base64(std::string_view key, std::string_view message) {
  const Sha1Digest d = hmac_sha1(key, message);
  return base64_encode(d.data(), d.size());
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return mbedtls_ct_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace gw::microgear
