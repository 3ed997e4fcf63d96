// The TLS engine (tls.hpp) on mbedTLS: contexts read their PEM files themselves (so a missing file
// reports errno, not a generic parse error), sessions use memory I/O hooks over the session's buffers,
// and mbedTLS's error codes and certificate flags become sentences that name the host and the CA file.
// Builds against mbedTLS 2.28 and 3.x (gateway/base/mbedtls_compat.hpp); TLS 1.2 on both.
#include "gateway/net/tls.hpp"

#include <arpa/inet.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_cache.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "gateway/base/mbedtls_compat.hpp"

namespace gw::net {
namespace {

std::string mbed_error(int rc) {
  char buf[160];
  mbedtls_strerror(rc, buf, sizeof buf);
  char code[16];
  std::snprintf(code, sizeof code, " (-0x%04x)", static_cast<unsigned>(-rc));
  return std::string(buf) + code;
}

// A file's bytes plus a terminating NUL (mbedTLS wants it for PEM). Errors start with "<field> <path>: ".
Result<std::string, std::string> read_pem(const char* field, const std::string& path) {
  const std::string where = std::string(field) + " " + path + ": ";
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return unexpected(where + "cannot read: " + std::strerror(errno));
  std::string data;
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
  const bool bad = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (bad) return unexpected(where + "cannot read: " + std::strerror(err));
  data.push_back('\0');
  return data;
}

// Parses every certificate of a PEM file into `chain`. A file the operator names must parse entirely;
// the system bundle may hold certificates mbedTLS does not support, and those are skipped.
Result<bool, std::string> load_certs(const char* field, const std::string& path, mbedtls_x509_crt* chain,
                                     bool tolerate_partial) {
  auto data = read_pem(field, path);
  if (!data) return unexpected(data.error());
  const std::string where = std::string(field) + " " + path + ": ";
  if (data->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return unexpected(where + "not a PEM certificate (no BEGIN CERTIFICATE line)");
  const int rc =
      mbedtls_x509_crt_parse(chain, reinterpret_cast<const unsigned char*>(data->data()), data->size());
  if (rc < 0) return unexpected(where + "not a valid PEM certificate: " + mbed_error(rc));
  if (rc > 0 && !tolerate_partial)
    return unexpected(where + std::to_string(rc) + " certificate(s) in the file could not be parsed");
  if (chain->version == 0) return unexpected(where + "no usable certificate");
  return true;
}

Result<bool, std::string> load_key(const char* field, const std::string& path, mbedtls_pk_context* key,
                                   mbedtls_ctr_drbg_context* drbg) {
  auto data = read_pem(field, path);
  if (!data) return unexpected(data.error());
  const int rc = mbed::pk_parse_key(key, reinterpret_cast<const unsigned char*>(data->data()), data->size(),
                                    mbedtls_ctr_drbg_random, drbg);
  mbedtls_platform_zeroize(data->data(), data->size());
  if (rc != 0) {
    return unexpected(std::string(field) + " " + path +
                      ": not a PEM private key (or it is encrypted): " + mbed_error(rc));
  }
  return true;
}

// TLS alert names (RFC 5246 §7.2, RFC 8446 §6), for the message when the peer ends a handshake.
const char* alert_name(unsigned char code) {
  switch (code) {
    case 10:
      return "unexpected_message";
    case 20:
      return "bad_record_mac";
    case 22:
      return "record_overflow";
    case 40:
      return "handshake_failure";
    case 42:
      return "bad_certificate";
    case 43:
      return "unsupported_certificate";
    case 44:
      return "certificate_revoked";
    case 45:
      return "certificate_expired";
    case 46:
      return "certificate_unknown";
    case 47:
      return "illegal_parameter";
    case 48:
      return "unknown_ca";
    case 49:
      return "access_denied";
    case 50:
      return "decode_error";
    case 51:
      return "decrypt_error";
    case 70:
      return "protocol_version";
    case 71:
      return "insufficient_security";
    case 80:
      return "internal_error";
    case 112:
      return "unrecognized_name";
    case 116:
      return "certificate_required";
    default:
      return "alert";
  }
}

}  // namespace

// What a client and a server context both hold: the random generator and the mbedTLS configuration,
// plus the certificates and key it points to (so they must live as long as it does).
struct TlsState {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca;
  mbedtls_x509_crt own_cert;
  mbedtls_pk_context own_key;
  mbedtls_ssl_ticket_context ticket;  // server: resumption by RFC 5077 session tickets
  mbedtls_ssl_cache_context cache;    // server: resumption by session id
  std::string ca_description;         // "ca_file /x/ca.pem", for verify failures

  TlsState() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&own_cert);
    mbedtls_pk_init(&own_key);
    mbedtls_ssl_ticket_init(&ticket);
    mbedtls_ssl_cache_init(&cache);
  }
  ~TlsState() {
    mbedtls_ssl_cache_free(&cache);
    mbedtls_ssl_ticket_free(&ticket);
    mbedtls_ssl_config_free(&conf);
    mbedtls_pk_free(&own_key);
    mbedtls_x509_crt_free(&own_cert);
    mbedtls_x509_crt_free(&ca);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  TlsState(const TlsState&) = delete;
  TlsState& operator=(const TlsState&) = delete;

  // Defaults for one side, TLS 1.2, seeded random generator.
  Result<bool, std::string> init(int endpoint) {
    static constexpr char kPersonal[] = "netpie-edge tls";
    if (!mbed::crypto_init()) return unexpected(std::string("tls: cannot initialise PSA crypto"));
    int rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                   reinterpret_cast<const unsigned char*>(kPersonal), sizeof kPersonal - 1);
    if (rc != 0) return unexpected("tls: cannot seed the random generator: " + mbed_error(rc));
    rc = mbedtls_ssl_config_defaults(&conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) return unexpected("tls: " + mbed_error(rc));
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbed::conf_tls12(&conf);
    return true;
  }

  // Peers must present a certificate chaining to the CAs in `path`; `label` names it in failures.
  Result<bool, std::string> trust(const char* field, const std::string& path, std::string label,
                                  bool bundle) {
    if (auto r = load_certs(field, path, &ca, bundle); !r) return r;
    ca_description = std::move(label) + path;
    mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    return true;
  }

  // Own certificate and key; both or neither (unless `required`).
  Result<bool, std::string> own(const std::string& cert_file, const std::string& key_file, bool required) {
    if (cert_file.empty() && key_file.empty()) {
      if (!required) return true;
      return unexpected(std::string("tls.cert_file and tls.key_file: required for a TLS server"));
    }
    if (cert_file.empty()) return unexpected(std::string("tls.cert_file: required with tls.key_file"));
    if (key_file.empty()) return unexpected(std::string("tls.key_file: required with tls.cert_file"));
    if (auto r = load_certs("tls.cert_file", cert_file, &own_cert, false); !r) return r;
    if (auto r = load_key("tls.key_file", key_file, &own_key, &drbg); !r) return r;
    if (mbed::pk_check_pair(&own_cert.pk, &own_key, mbedtls_ctr_drbg_random, &drbg) != 0)
      return unexpected("tls.key_file " + key_file + ": is not the key of tls.cert_file " + cert_file);
    const int rc = mbedtls_ssl_conf_own_cert(&conf, &own_cert, &own_key);
    if (rc != 0) return unexpected("tls.cert_file " + cert_file + ": " + mbed_error(rc));
    return true;
  }
};

namespace {

// The client side: verification against ca_file (or the system bundle) unless verify is off, and an
// optional client certificate.
Result<bool, std::string> configure(TlsState& s, const TlsClientOptions& options) {
  if (auto r = s.init(MBEDTLS_SSL_IS_CLIENT); !r) return r;
  mbedtls_ssl_conf_authmode(&s.conf, MBEDTLS_SSL_VERIFY_NONE);
  if (options.verify) {
    const bool system = options.ca_file.empty();
    auto r = system ? s.trust("tls.ca_file", kSystemCaBundle, "the system CA bundle ", true)
                    : s.trust("tls.ca_file", options.ca_file, "ca_file ", false);
    if (!r) return r;
  }
  return s.own(options.cert_file, options.key_file, false);
}

// ECDHE key exchange (forward secrecy) with AEAD ciphers only, strongest first (RFC 7525 §4.2, RFC 8422,
// RFC 7905). ECDSA and RSA certificates both work; mbedTLS skips the suites the key cannot serve.
constexpr int kServerSuites[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
                                 MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
                                 0};

// The server side: its certificate, the suites above, resumption, and client certificates when
// client_ca_file is set (required or optional).
Result<bool, std::string> configure(TlsState& s, const TlsServerOptions& options) {
  if (auto r = s.init(MBEDTLS_SSL_IS_SERVER); !r) return r;
  if (auto r = s.own(options.cert_file, options.key_file, true); !r) return r;
  mbedtls_ssl_conf_ciphersuites(&s.conf, kServerSuites);
  int rc = mbedtls_ssl_ticket_setup(&s.ticket, mbedtls_ctr_drbg_random, &s.drbg, MBEDTLS_CIPHER_AES_256_GCM,
                                    options.session_lifetime_s);
  if (rc != 0) return unexpected("tls: session tickets: " + mbed_error(rc));
  mbedtls_ssl_conf_session_tickets_cb(&s.conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse, &s.ticket);
  if (options.session_cache_size > 0) {
    mbedtls_ssl_cache_set_max_entries(&s.cache, static_cast<int>(options.session_cache_size));
    mbedtls_ssl_cache_set_timeout(&s.cache, static_cast<int>(options.session_lifetime_s));
    mbedtls_ssl_conf_session_cache(&s.conf, &s.cache, mbedtls_ssl_cache_get, mbedtls_ssl_cache_set);
  }
  mbedtls_ssl_conf_authmode(&s.conf, MBEDTLS_SSL_VERIFY_NONE);
  if (options.client_ca_file.empty()) return true;
  if (auto r = s.trust("tls.client_ca_file", options.client_ca_file, "client_ca_file ", false); !r) return r;
  if (!options.require_client_cert) mbedtls_ssl_conf_authmode(&s.conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
  return true;
}

}  // namespace

TlsContextBase::TlsContextBase() : state_(std::make_unique<TlsState>()) {}
TlsContextBase::~TlsContextBase() = default;

Result<std::shared_ptr<const TlsClientContext>, std::string> TlsClientContext::load(
    const TlsClientOptions& options) {
  std::shared_ptr<TlsClientContext> ctx(new TlsClientContext);
  ctx->options_ = options;
  if (auto r = configure(*ctx->state_, options); !r) return unexpected(r.error());
  return std::shared_ptr<const TlsClientContext>(std::move(ctx));
}

Result<std::shared_ptr<const TlsServerContext>, std::string> TlsServerContext::load(
    const TlsServerOptions& options) {
  std::shared_ptr<TlsServerContext> ctx(new TlsServerContext);
  ctx->options_ = options;
  if (auto r = configure(*ctx->state_, options); !r) return unexpected(r.error());
  return std::shared_ptr<const TlsServerContext>(std::move(ctx));
}

// ---- sessions ----

struct TlsSession::Engine {
  TlsSession* owner;
  std::shared_ptr<const void> context;  // keeps the configuration alive
  const TlsState* state;
  bool client;
  std::string host;  // the name checked (client), for messages
  unsigned char ip[16] = {};
  std::size_t ip_len = 0;  // host is an IPv4 (4) or IPv6 (16) literal
  mbedtls_ssl_context ssl;

  Engine(TlsSession* o, std::shared_ptr<const void> ctx, const TlsState* st, bool is_client, std::string h)
      : owner(o), context(std::move(ctx)), state(st), client(is_client), host(std::move(h)) {
    mbedtls_ssl_init(&ssl);
  }
  ~Engine() { mbedtls_ssl_free(&ssl); }

  static int send(void* p, const unsigned char* buf, std::size_t len) {
    static_cast<Engine*>(p)->owner->cipher_out_.append(reinterpret_cast<const char*>(buf), len);
    return static_cast<int>(len);
  }
  static int recv(void* p, unsigned char* buf, std::size_t len) {
    TlsSession* s = static_cast<Engine*>(p)->owner;
    const std::size_t avail = s->cipher_in_.size() - s->cipher_in_pos_;
    if (avail == 0) return MBEDTLS_ERR_SSL_WANT_READ;
    const std::size_t n = std::min(len, avail);
    std::memcpy(buf, s->cipher_in_.data() + s->cipher_in_pos_, n);
    s->cipher_in_pos_ += n;
    return static_cast<int>(n);
  }

  // mbedTLS 2.28 checks a name against the CN and the DNS names only, and would send an IP address as
  // SNI, which RFC 6066 §3 forbids. So an IP literal is not given to mbedTLS as the hostname (no SNI, no
  // CN check); this callback matches it against the iPAddress subjectAltNames instead (RFC 6125 §6.2.1;
  // RFC 5280 §4.2.1.6: 4 or 16 bytes in network order) and flags a mismatch as mbedTLS would.
  static int verify(void* p, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
    const auto* e = static_cast<const Engine*>(p);
    if (depth != 0 || e->ip_len == 0) return 0;
    for (const mbedtls_x509_sequence* san = &crt->subject_alt_names; san != nullptr; san = san->next) {
      if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
          san->buf.len == e->ip_len && std::memcmp(san->buf.p, e->ip, e->ip_len) == 0)
        return 0;
    }
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
  }

  // The reasons of a certificate verification failure, as one line.
  std::string verify_failure() const {
    std::uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
    std::string out =
        client ? "certificate verify failed for " + host + ": " : "client certificate verify failed: ";
    std::string reasons;
    auto add = [&reasons](const std::string& r) {
      if (!reasons.empty()) reasons += "; ";
      reasons += r;
    };
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
      add("not signed by a trusted CA (" + state->ca_description + ")");
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) add("certificate name mismatch (expected " + host + ")");
    if (flags & MBEDTLS_X509_BADCERT_EXPIRED) add("certificate expired");
    if (flags & MBEDTLS_X509_BADCERT_FUTURE) add("certificate not valid yet");
    if (flags & MBEDTLS_X509_BADCERT_MISSING) add("no certificate sent");
    flags &= ~static_cast<std::uint32_t>(MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_CN_MISMATCH |
                                         MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                                         MBEDTLS_X509_BADCERT_MISSING);
    if (flags != 0) {
      // mbedTLS's own wording for the rest, one reason per line.
      char buf[512];
      const int n = mbedtls_x509_crt_verify_info(buf, sizeof buf, "", flags);
      std::string_view text(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
      while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        if (!line.empty()) add(std::string(line));
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
      }
    }
    if (reasons.empty()) reasons = "unknown reason";
    return out + reasons;
  }

  std::string describe_error(int rc, bool handshaking) const {
    if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) return verify_failure();
    if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) return "client certificate required but none was sent";
    if (const unsigned char* rec = mbed::ssl_last_record(ssl);
        rc == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE && rec != nullptr) {
      // The alert description is the record's second byte (RFC 5246 §7.2); mbedTLS leaves it in in_msg.
      const unsigned char code = rec[1];
      return std::string(handshaking ? "TLS handshake refused by the peer: "
                                     : "TLS connection ended by the peer: ") +
             "alert " + alert_name(code) + " (" + std::to_string(code) + ")";
    }
    return std::string(handshaking ? "TLS handshake failed: " : "TLS error: ") + mbed_error(rc);
  }
};

namespace {
std::string describe_setup_error(int rc) {
  return "TLS setup failed: " + mbed_error(rc);
}
}  // namespace

TlsSession::TlsSession(std::shared_ptr<const TlsClientContext> context, std::string_view host,
                       std::string_view server_name) {
  const TlsState& st = context->state();
  const std::string& configured = context->options().server_name;
  const std::string name(!server_name.empty() ? server_name : !configured.empty() ? configured : host);
  engine_ = std::make_unique<Engine>(this, std::move(context), &st, true, name);
  int rc = mbedtls_ssl_setup(&engine_->ssl, &st.conf);
  Engine& e = *engine_;
  if (inet_pton(AF_INET, name.c_str(), e.ip) == 1) {
    e.ip_len = 4;
  } else if (inet_pton(AF_INET6, name.c_str(), e.ip) == 1) {
    e.ip_len = 16;
  }
  // An IP literal is checked by `verify` (no SNI, no CN match); saying so with a null hostname is what
  // mbedTLS 3.6 requires, as it refuses to verify a server certificate when no hostname was ever set.
  if (rc == 0) rc = mbedtls_ssl_set_hostname(&e.ssl, e.ip_len != 0 ? nullptr : name.c_str());
  if (rc != 0) {
    fail(describe_setup_error(rc));
    return;
  }
  mbedtls_ssl_set_verify(&engine_->ssl, &Engine::verify, engine_.get());
  mbedtls_ssl_set_bio(&engine_->ssl, engine_.get(), &Engine::send, &Engine::recv, nullptr);
  step();  // the ClientHello
}

TlsSession::TlsSession(std::shared_ptr<const TlsServerContext> context) {
  const TlsState& st = context->state();
  engine_ = std::make_unique<Engine>(this, std::move(context), &st, false, std::string());
  const int rc = mbedtls_ssl_setup(&engine_->ssl, &st.conf);
  if (rc != 0) {
    fail(describe_setup_error(rc));
    return;
  }
  mbedtls_ssl_set_bio(&engine_->ssl, engine_.get(), &Engine::send, &Engine::recv, nullptr);
}

TlsSession::~TlsSession() = default;

void TlsSession::fail(std::string why) {
  state_ = State::Failed;
  error_ = std::move(why);
}

void TlsSession::step() {
  if (state_ == State::Handshaking) {
    const int rc = mbedtls_ssl_handshake(&engine_->ssl);
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return;
    if (rc != 0) {
      // mbedTLS ends this one silently; tell the client, or it would wait for the server's Finished.
      if (rc == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
        mbedtls_ssl_send_alert_message(&engine_->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
      fail(engine_->describe_error(rc, true));
      return;
    }
    state_ = State::Open;
    was_open_ = true;
    if (!plain_pending_.empty()) {
      std::string pending = std::move(plain_pending_);
      plain_pending_.clear();
      encrypt(pending);
    }
  }
  while (state_ == State::Open && plain_out_.size() < kMaxPlainBuffered) {
    unsigned char buf[16 * 1024];
    const int rc = mbedtls_ssl_read(&engine_->ssl, buf, sizeof buf);
    if (rc > 0) {
      plain_out_.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(rc));
    } else if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
      peer_closed_ = true;
      state_ = State::Closed;
    } else if (rc == 0 || rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
      break;
    } else {
      fail(engine_->describe_error(rc, false));
    }
  }
  // Drop consumed input once it is most of the buffer, so appending stays amortised O(n).
  if (cipher_in_pos_ > 0 && cipher_in_pos_ * 2 >= cipher_in_.size()) {
    cipher_in_.erase(0, cipher_in_pos_);
    cipher_in_pos_ = 0;
  }
}

void TlsSession::feed(std::string_view cipher) {
  if (state_ == State::Closed || state_ == State::Failed) return;
  if (cipher_in_.size() - cipher_in_pos_ + cipher.size() > kMaxCipherBuffered) {
    fail("TLS receive buffer over " + std::to_string(kMaxCipherBuffered) + " bytes (plaintext not taken)");
    return;
  }
  cipher_in_.append(cipher);
  step();
}

std::string TlsSession::take_plain() {
  std::string out = std::move(plain_out_);
  plain_out_.clear();
  if (state_ == State::Open && out.size() >= kMaxPlainBuffered) step();  // decryption paused at the bound
  return out;
}

void TlsSession::encrypt(std::string_view plain) {
  while (!plain.empty() && state_ == State::Open) {
    const int rc =
        mbedtls_ssl_write(&engine_->ssl, reinterpret_cast<const unsigned char*>(plain.data()), plain.size());
    if (rc < 0) {
      fail(engine_->describe_error(rc, false));
      return;
    }
    plain.remove_prefix(static_cast<std::size_t>(rc));
  }
}

void TlsSession::write(std::string_view plain) {
  std::string& buffer = state_ == State::Handshaking ? plain_pending_ : cipher_out_;
  if (state_ != State::Handshaking && state_ != State::Open) return;
  if (buffer.size() + plain.size() > kMaxOutBuffered) {
    fail("TLS send buffer over " + std::to_string(kMaxOutBuffered) + " bytes (ciphertext not taken)");
    return;
  }
  if (state_ == State::Handshaking) {
    plain_pending_.append(plain);
  } else {
    encrypt(plain);
  }
}

std::string TlsSession::take_cipher() {
  std::string out = std::move(cipher_out_);
  cipher_out_.clear();
  return out;
}

void TlsSession::close() {
  if (state_ == State::Open) mbedtls_ssl_close_notify(&engine_->ssl);
  if (state_ == State::Open || state_ == State::Handshaking) state_ = State::Closed;
}

std::string TlsSession::describe() const {
  if (!handshake_done()) return "";
  return std::string(mbedtls_ssl_get_version(&engine_->ssl)) + " " +
         mbedtls_ssl_get_ciphersuite(&engine_->ssl);
}

std::string TlsSession::peer_common_name() const {
  if (!handshake_done() || mbedtls_ssl_get_verify_result(&engine_->ssl) != 0) return "";
  const mbedtls_x509_crt* crt = mbedtls_ssl_get_peer_cert(&engine_->ssl);
  if (crt == nullptr) return "";
  for (const mbedtls_x509_name* n = &crt->subject; n != nullptr; n = n->next) {
    if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0)
      return std::string(reinterpret_cast<const char*>(n->val.p), n->val.len);
  }
  return "";
}

namespace {

// The whole pages of [buf + TlsSession::kRecordBufferKept, buf + len) given back to the kernel, or (tests)
// that whole range, pages or not, filled with a pattern. Returns the bytes concerned.
std::size_t release_pages(unsigned char* buf, std::size_t len, TlsSession::Release how) {
  if (buf == nullptr || len <= TlsSession::kRecordBufferKept) return 0;
  if (how == TlsSession::Release::Scribble) {
    std::memset(buf + TlsSession::kRecordBufferKept, 0xA5, len - TlsSession::kRecordBufferKept);
    return len - TlsSession::kRecordBufferKept;
  }
  static const std::uintptr_t page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(buf) + TlsSession::kRecordBufferKept;
  const std::uintptr_t begin = (first + page - 1) / page * page;
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(buf) + len) / page * page;
  if (end <= begin) return 0;
  // Only whole pages strictly inside the buffer: the bytes around them belong to other allocations.
  if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) return 0;  // they stay
  return end - begin;
}

}  // namespace

std::size_t TlsSession::release_idle_memory(Release how) {
  if (state_ != State::Open || !engine_) return 0;
  if (cipher_in_pos_ != cipher_in_.size() || !plain_out_.empty() || !cipher_out_.empty() ||
      !plain_pending_.empty())
    return 0;
  if (!mbed::ssl_record_layer_idle(engine_->ssl)) return 0;
  std::size_t released = cipher_in_.capacity();
  std::string().swap(cipher_in_);  // all consumed: its capacity goes too
  cipher_in_pos_ = 0;
  const mbed::RecordBuffers b = mbed::ssl_record_buffers(engine_->ssl);
  released += release_pages(b.in, b.in_len, how);
  released += release_pages(b.out, b.out_len, how);
  return released;
}

std::string tls_library_version() {
  std::string v = mbed::runtime_version();
  if (v != MBEDTLS_VERSION_STRING) v += std::string(" (built with ") + MBEDTLS_VERSION_STRING + ")";
  return v;
}

}  // namespace gw::net
