// The few mbedTLS calls whose signatures differ between 2.28 (Debian 12, OpenWrt 23.05) and 3.x (Debian 13,
// Raspberry Pi OS, OpenWrt 24.10), one function each, so the callers have one code path for both. Include it
// only from files of targets that link gw_mbedcrypto or gw_mbedtls (they carry the include directory of the
// copy CMake found). Nothing here changes behaviour: each wrapper calls what its version offers for the same
// operation.
#pragma once

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/version.h>

#include <cstddef>
#include <cstdint>

#if MBEDTLS_VERSION_MAJOR >= 3
#include <psa/crypto.h>
#endif

namespace gw::mbed {

using RngFn = int (*)(void*, unsigned char*, std::size_t);

// The version of the library the binary runs with (not the headers it was built with).
inline const char* runtime_version() {
  static char buf[18];
  mbedtls_version_get_string(buf);
  return buf;
}

// 3.x routes much of its cryptography (and all of TLS 1.3) through PSA, which must be initialised before
// the first handshake; the call is idempotent. 2.28 has no such step.
inline bool crypto_init() {
#if MBEDTLS_VERSION_MAJOR >= 3
  return psa_crypto_init() == PSA_SUCCESS;
#else
  return true;
#endif
}

// 3.x takes a random generator for private-key operations (blinding); 2.28 does not.
inline int pk_parse_key(mbedtls_pk_context* pk, const unsigned char* key, std::size_t len, RngFn rng,
                        void* p_rng) {
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_pk_parse_key(pk, key, len, nullptr, 0, rng, p_rng);
#else
  (void)rng;
  (void)p_rng;
  return mbedtls_pk_parse_key(pk, key, len, nullptr, 0);
#endif
}

inline int pk_check_pair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv, RngFn rng,
                         void* p_rng) {
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_pk_check_pair(pub, prv, rng, p_rng);
#else
  (void)rng;
  (void)p_rng;
  return mbedtls_pk_check_pair(pub, prv);
#endif
}

// The one-shot SHA-256 lost its `_ret` suffix in 3.x.
inline int sha256(const unsigned char* in, std::size_t len, unsigned char out[32]) {
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_sha256(in, len, out, 0);
#else
  return mbedtls_sha256_ret(in, len, out, 0);
#endif
}

// PBKDF2-HMAC-SHA256 (RFC 8018 §5.2). 3.x takes the hash type; the context form is deprecated there.
inline int pbkdf2_sha256(const unsigned char* pwd, std::size_t pwd_len, const unsigned char* salt,
                         std::size_t salt_len, unsigned iterations, std::uint32_t key_len,
                         unsigned char* out) {
#if MBEDTLS_VERSION_MAJOR >= 3
  return mbedtls_pkcs5_pbkdf2_hmac_ext(MBEDTLS_MD_SHA256, pwd, pwd_len, salt, salt_len, iterations, key_len,
                                       out);
#else
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  int rc = mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), /*hmac=*/1);
  if (rc == 0) rc = mbedtls_pkcs5_pbkdf2_hmac(&ctx, pwd, pwd_len, salt, salt_len, iterations, key_len, out);
  mbedtls_md_free(&ctx);
  return rc;
#endif
}

// TLS 1.2 only, on both versions. 1.0 and 1.1 are deprecated (RFC 8996). 3.x would negotiate TLS 1.3 when
// both ends offer it; it is kept off so that a build behaves and reports failures the same way on either
// version (under 1.3 a refused client certificate surfaces after the handshake, and alerts are encrypted).
inline void conf_tls12(mbedtls_ssl_config* conf) {
#if MBEDTLS_VERSION_MAJOR >= 3
  mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
  mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
  mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

// The last record received (after a fatal alert: the alert), or null. 3.x has no accessor for the alert
// a peer sent, so the private field is read by its 3.x name.
inline const unsigned char* ssl_last_record(const mbedtls_ssl_context& ssl) {
#if MBEDTLS_VERSION_MAJOR >= 3
  return ssl.MBEDTLS_PRIVATE(in_msg);
#else
  return ssl.in_msg;
#endif
}

// The record layer's buffers of a TLS (stream, not DTLS) context, and whether anything in them is still
// needed: TlsSession::release_idle_memory() gives their pages back to the kernel while a connection is
// idle. The fields are private in 3.x (MBEDTLS_PRIVATE) and public in 2.28; both versions lay the
// buffers out alike (ssl_msg.c, mbedtls_ssl_reset_in_pointers / _out_pointers): the incoming record
// sequence number (in_ctr, TLS only) is the first 8 bytes of in_buf and lives there for the whole
// connection; the record header (5 bytes) and the explicit IV (8 bytes for GCM) follow; the outgoing
// number is kept in cur_out_ctr and copied to out_buf's first 8 bytes for each record.
struct RecordBuffers {
  unsigned char* in = nullptr;
  std::size_t in_len = 0;
  unsigned char* out = nullptr;
  std::size_t out_len = 0;
};

#if MBEDTLS_VERSION_MAJOR >= 3
#define GW_MBED_FIELD(f) ssl.MBEDTLS_PRIVATE(f)
#else
#define GW_MBED_FIELD(f) ssl.f
#endif

inline RecordBuffers ssl_record_buffers(mbedtls_ssl_context& ssl) {
  RecordBuffers b;
  b.in = GW_MBED_FIELD(in_buf);
  b.out = GW_MBED_FIELD(out_buf);
#if defined(MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH)
  b.in_len = GW_MBED_FIELD(in_buf_len);  // resized after the handshake: its real length
  b.out_len = GW_MBED_FIELD(out_buf_len);
#else
  // A lower bound of the allocation, from the public headers: the buffer also holds the counter, the
  // header and the record expansion (ssl_misc.h's MBEDTLS_SSL_IN_BUFFER_LEN, not installed by 3.x).
  b.in_len = MBEDTLS_SSL_IN_CONTENT_LEN;
  b.out_len = MBEDTLS_SSL_OUT_CONTENT_LEN;
#endif
  return b;
}

// True when the record buffers hold nothing that mbedTLS will read again except their first bytes (the
// sequence number above): the handshake is over, no partial record has been read (in_left), no record or
// message is held for processing (in_msglen; mbedtls_ssl_check_pending: a handshake message left in a
// record, a record kept back, application data not yet read), and nothing is waiting to be written
// (out_left). Between two records of an idle connection all of these hold.
inline bool ssl_record_layer_idle(mbedtls_ssl_context& ssl) {
#if MBEDTLS_VERSION_MAJOR >= 3
  if (!mbedtls_ssl_is_handshake_over(&ssl)) return false;
#else
  if (ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) return false;
#endif
  return GW_MBED_FIELD(in_left) == 0 && GW_MBED_FIELD(in_msglen) == 0 && GW_MBED_FIELD(out_left) == 0 &&
         mbedtls_ssl_check_pending(&ssl) == 0 && mbedtls_ssl_get_bytes_avail(&ssl) == 0;
}

#undef GW_MBED_FIELD

}  // namespace gw::mbed
