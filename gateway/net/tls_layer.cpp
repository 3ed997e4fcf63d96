// The TLS layer (tls_layer.hpp). Plaintext goes up before the state is looked at, so records that came
// in one read with the peer's close_notify are still delivered; ciphertext goes down before a failure is
// reported, so the peer hears the alert before the socket closes.
#include "gateway/net/tls_layer.hpp"

namespace gw::net {

TlsServerLayer::TlsServerLayer(std::shared_ptr<const TlsServerContext> context, bool identity_from_cn)
    : session_(std::move(context)), identity_from_cn_(identity_from_cn) {}

void TlsServerLayer::from_below(std::string_view bytes) {
  session_.feed(bytes);
  drain();
}

void TlsServerLayer::from_above(std::string_view bytes) {
  session_.write(bytes);
  drain();
}

void TlsServerLayer::close() {
  session_.close();  // close_notify (RFC 5246 §7.2.1) when open
  deliver_down(session_.take_cipher());
  close_below();
}

std::string TlsServerLayer::peer_identity() const {
  return identity_from_cn_ ? session_.peer_common_name() : std::string();
}

void TlsServerLayer::drain() {
  // take_plain() may resume decryption paused at the session's bound: loop until nothing comes.
  for (std::string plain = session_.take_plain(); !plain.empty(); plain = session_.take_plain()) {
    deliver_up(plain);
  }
  deliver_down(session_.take_cipher());
  if (ended_) return;
  if (session_.state() == TlsSession::State::Failed) {
    ended_ = true;
    fail(session_.error());
  } else if (session_.peer_closed()) {
    ended_ = true;
    end_up();
  }
}

}  // namespace gw::net
