// TLS as a layer of the transport stack (layer.hpp): a server TlsSession (tls.hpp) between the socket
// and what runs on it (MQTT, HTTP, WebSocket). Ciphertext from below is decrypted and handed up;
// plaintext from above is encrypted and handed down; a handshake or record failure becomes the layer's
// failure (its alert still goes down first); close_notify from the peer ends the stream.
#pragma once

#include <memory>
#include <string>

#include "gateway/net/layer.hpp"
#include "gateway/net/tls.hpp"

namespace gw::net {

class TlsServerLayer final : public Layer {
 public:
  // `identity_from_cn`: a verified client certificate's CN is the peer's identity (the MQTT user name).
  TlsServerLayer(std::shared_ptr<const TlsServerContext> context, bool identity_from_cn);

  void from_below(std::string_view bytes) override;
  void from_above(std::string_view bytes) override;
  void close() override;
  bool opening() const override { return session_.state() == TlsSession::State::Handshaking; }
  std::string peer_identity() const override;
  std::string describe() const override { return session_.describe(); }
  std::size_t release_idle() override { return session_.release_idle_memory(); }

 private:
  void drain();  // hands up what was decrypted and down what was encrypted; reports the end or failure

  TlsSession session_;
  bool identity_from_cn_;
  bool ended_ = false;
};

}  // namespace gw::net
