// TLS over memory buffers with mbedTLS 2.28: no sockets, so one engine serves the uplink's client
// connections now and a TLS listener later. A context (CA chain, own certificate and key, the random
// generator) is loaded once, is immutable afterwards and is shared by every session; a TlsSession is one
// connection's record layer and handshake, fed with ciphertext and drained of plaintext and ciphertext by
// its owner. Use both from one thread (the loop): the context's random generator is shared, not locked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/base/result.hpp"

namespace gw::net {

// The client side of a TLS connection, as the uplink's config holds it.
struct TlsClientOptions {
  bool enabled = false;
  std::string ca_file;      // PEM; "" = the system bundle (kSystemCaBundle)
  std::string server_name;  // SNI and the name checked; "" = the host connected to
  bool verify = true;       // false: any certificate is accepted (tests, private networks)
  std::string cert_file;    // client certificate (PEM), optional; needs key_file
  std::string key_file;
};

// The server side: a certificate and its key, and optionally the CA that client certificates must
// chain to. Only ECDHE key exchange with AEAD ciphers is offered (RFC 7525 §4.2), TLS 1.2 only.
struct TlsServerOptions {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  // With client_ca_file: true = a client without a valid certificate fails the handshake; false = a
  // certificate is asked for and checked when sent, and a client without one is let in anonymously.
  bool require_client_cert = true;
  // Resumption (RFC 5077 tickets, and a cache of this many sessions for clients without tickets;
  // past it the oldest entry goes). 0 = no cache; tickets stay on.
  std::size_t session_cache_size = 1000;
  std::uint32_t session_lifetime_s = 86400;  // tickets and cache entries
};

inline constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

struct TlsState;  // the mbedTLS configuration, certificates, key and random generator (tls.cpp)

// A loaded configuration, shared by sessions through a shared_ptr and never changed after load().
class TlsContextBase {
 public:
  const TlsState& state() const { return *state_; }

 protected:
  TlsContextBase();
  ~TlsContextBase();
  TlsContextBase(const TlsContextBase&) = delete;
  TlsContextBase& operator=(const TlsContextBase&) = delete;
  std::unique_ptr<TlsState> state_;
};

// load() reads and checks the files once. Errors name the option and the file, e.g.
// "tls.ca_file /x/ca.pem: cannot read: No such file or directory".
class TlsClientContext : public TlsContextBase {
 public:
  static Result<std::shared_ptr<const TlsClientContext>, std::string> load(const TlsClientOptions& options);
  const TlsClientOptions& options() const { return options_; }

 private:
  TlsClientContext() = default;
  TlsClientOptions options_;
};

class TlsServerContext : public TlsContextBase {
 public:
  static Result<std::shared_ptr<const TlsServerContext>, std::string> load(const TlsServerOptions& options);
  const TlsServerOptions& options() const { return options_; }

 private:
  TlsServerContext() = default;
  TlsServerOptions options_;
};

// One TLS connection over memory. The owner moves bytes: ciphertext read from the socket goes to
// feed(), plaintext comes out of take_plain(); plaintext to send goes to write(), ciphertext for the
// socket comes out of take_cipher() (call it after every feed(), write() and close(): a handshake
// step, an alert or close_notify may be waiting). Nothing throws; a failure is a state plus error().
//
//   state        | event                                  | next
//   Handshaking  | handshake messages complete            | Open (writes made meanwhile are sent)
//   Handshaking  | verify failure, alert, bad record      | Failed (error() says why)
//   Open         | close_notify from the peer             | Closed (peer_closed())
//   Open         | close()                                | Closed (close_notify in take_cipher())
//   Open         | bad record, fatal alert, buffer bound  | Failed
//   Closed/Failed| anything                               | unchanged; feed() and write() are ignored
//
// Bounds: plaintext not yet taken stops decryption at kMaxPlainBuffered (ciphertext then waits in the
// input buffer; take_plain() resumes it); ciphertext fed but not yet decrypted is limited to
// kMaxCipherBuffered, and plaintext written before the handshake ends or ciphertext not yet taken to
// kMaxOutBuffered; passing either fails the session with "... buffer over N bytes". A socket owner that
// takes plaintext and ciphertext after every call never comes near them.
class TlsSession {
 public:
  enum class State { Handshaking, Open, Closed, Failed };

  static constexpr std::size_t kMaxPlainBuffered = 1 << 20;
  static constexpr std::size_t kMaxCipherBuffered = (1 << 20) + (32 << 10);
  static constexpr std::size_t kMaxOutBuffered = 4 << 20;

  // A client session to `host` (the name or address connected to). The name checked against the
  // certificate and sent as SNI is `server_name` if given, else the options' server_name, else `host`.
  // The ClientHello is ready in take_cipher() at once.
  TlsSession(std::shared_ptr<const TlsClientContext> context, std::string_view host,
             std::string_view server_name = {});
  // A server session; it waits for the ClientHello. Neither constructor accepts a null context.
  explicit TlsSession(std::shared_ptr<const TlsServerContext> context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  void feed(std::string_view cipher);
  std::string take_plain();
  // Encrypts at once when Open; before that, keeps the plaintext until the handshake is done.
  void write(std::string_view plain);
  std::string take_cipher();
  bool has_cipher() const { return !cipher_out_.empty(); }
  // Sends close_notify (RFC 5246 §7.2.1) and stops; pending plaintext is written first.
  void close();

  State state() const { return state_; }
  bool handshake_done() const { return state_ == State::Open || (state_ == State::Closed && was_open_); }
  bool peer_closed() const { return peer_closed_; }
  const std::string& error() const { return error_; }
  // The protocol and cipher suite agreed, e.g. "TLSv1.2 TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256".
  std::string describe() const;
  // The CN of the peer's certificate once the handshake is done, if it sent one and it verified
  // against the configured CA; else "".
  std::string peer_common_name() const;

  // An idle connection's memory: mbedTLS 2.28 keeps a 16 KiB input and a 16 KiB output record buffer
  // for the session's whole life (Debian builds it without MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH, and a
  // TLS context cannot be saved and freed: mbedtls_ssl_context_save is for DTLS only). When the
  // session is Open and nothing is pending anywhere (mbed::ssl_record_layer_idle: no partial record in,
  // nothing unsent out, nothing taken or untaken here), the whole pages inside both buffers past their
  // first kRecordBufferKept bytes (the incoming sequence number, the record header and IV) are given
  // back with madvise(MADV_DONTNEED); the kernel maps zero pages on the next touch, and the next
  // record overwrites whatever mbedTLS reads there before it reads it. Returns the bytes released (0:
  // not idle, or nothing whole to release). `Scribble` (tests) fills all of both buffers past their first
  // kRecordBufferKept bytes with a pattern instead, so a test fails if any of it is read before written.
  enum class Release { Discard, Scribble };
  static constexpr std::size_t kRecordBufferKept = 64;
  std::size_t release_idle_memory(Release how = Release::Discard);

  struct Engine;  // the mbedTLS context and its I/O hooks (tls.cpp)

 private:
  void step();  // drives the handshake, then decryption, as far as the input allows
  void fail(std::string why);
  void encrypt(std::string_view plain);

  std::unique_ptr<Engine> engine_;
  State state_ = State::Handshaking;
  bool was_open_ = false;
  bool peer_closed_ = false;
  std::string error_;
  std::string cipher_in_;  // fed, not yet consumed by mbedTLS; consumed from cipher_in_pos_
  std::size_t cipher_in_pos_ = 0;
  std::string plain_out_;
  std::string plain_pending_;  // written before the handshake finished
  std::string cipher_out_;
};

// The mbedTLS the binary runs with, and the headers it was built against when they differ: "3.6.6".
std::string tls_library_version();

}  // namespace gw::net
