// The transport stack's plumbing (layer.hpp): moving bytes between neighbouring layers and the ends.
// Bytes go up only while no layer has failed; bytes still go down after a failure, so that a layer's
// last word (a TLS alert, a WebSocket close frame) reaches the socket before it closes.
#include "gateway/net/layer.hpp"

#include "gateway/base/log.hpp"

namespace gw::net {

void Layer::deliver_up(std::string_view bytes) {
  if (stack_ != nullptr && !bytes.empty()) stack_->up_from(index_, bytes);
}
void Layer::deliver_down(std::string_view bytes) {
  if (stack_ != nullptr && !bytes.empty()) stack_->down_from(index_, bytes);
}
void Layer::close_below() {
  if (stack_ != nullptr) stack_->close_from(index_);
}
void Layer::end_up() {
  if (stack_ != nullptr) stack_->end_from(index_);
}
void Layer::fail(std::string reason) {
  if (stack_ != nullptr) stack_->fail_from(index_, std::move(reason));
}

LayerStack::LayerStack(std::vector<std::unique_ptr<Layer>> layers, StackEnds ends)
    : layers_(std::move(layers)), ends_(std::move(ends)) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->stack_ = this;
    layers_[i]->index_ = i;
  }
}

void LayerStack::from_socket(std::string_view bytes) {
  if (failed_ || bytes.empty()) return;
  if (layers_.empty()) {
    ends_.to_protocol(bytes);
  } else {
    layers_.front()->from_below(bytes);
  }
}

void LayerStack::from_protocol(std::string_view bytes) {
  if (failed_ || closed_ || bytes.empty()) return;
  if (layers_.empty()) {
    ends_.to_socket(bytes);
  } else {
    layers_.back()->from_above(bytes);
  }
}

void LayerStack::close() {
  if (closed_) return;
  closed_ = true;
  if (layers_.empty() || failed_) {
    ends_.close_socket();
  } else {
    layers_.back()->close();
  }
}

bool LayerStack::opening() const {
  for (const auto& l : layers_) {
    if (l->opening()) return true;
  }
  return false;
}

std::string LayerStack::peer_identity() const {
  for (const auto& l : layers_) {
    if (std::string id = l->peer_identity(); !id.empty()) return id;
  }
  return {};
}

std::size_t LayerStack::release_idle() {
  std::size_t released = 0;
  if (failed_ || closed_) return 0;
  for (const auto& l : layers_) released += l->release_idle();
  return released;
}

std::string LayerStack::describe() const {
  std::string out;
  for (const auto& l : layers_) {
    std::string d = l->describe();
    if (d.empty()) continue;
    if (!out.empty()) out.push_back(' ');
    out += d;
  }
  return out;
}

void LayerStack::up_from(std::size_t index, std::string_view bytes) {
  if (failed_) return;
  if (index + 1 < layers_.size()) {
    layers_[index + 1]->from_below(bytes);
  } else {
    ends_.to_protocol(bytes);
  }
}

void LayerStack::down_from(std::size_t index, std::string_view bytes) {
  if (index == 0) {
    ends_.to_socket(bytes);
  } else {
    layers_[index - 1]->from_above(bytes);
  }
}

void LayerStack::close_from(std::size_t index) {
  closed_ = true;
  if (index == 0) {
    ends_.close_socket();
  } else {
    layers_[index - 1]->close();
  }
}

void LayerStack::end_from(std::size_t) {
  if (failed_) return;
  ends_.protocol_eof();
}

void LayerStack::fail_from(std::size_t, std::string reason) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(reason);
  ends_.failed(error_);
}

std::optional<LayeredListener::Slot> LayeredListener::admit(std::function<void()> close) {
  if (opening_.size() >= layers.max_handshakes) {
    const bool refuse = layers.when_full == HandshakeFullPolicy::RefuseNew || opening_.empty();
    std::uint64_t& n = refuse ? counts.refused : counts.evicted;
    if (n++ % 1000 == 0)  // one line per thousand: a flood must not flood the log
      GW_LOG(Warn, "net", "%s: %zu handshakes in progress (max_handshakes): %s", name.c_str(),
             opening_.size(),
             refuse ? "closing new connections (refuse_new)" : "closing the oldest (close_oldest)");
    if (refuse) return std::nullopt;
    std::function<void()> oldest = std::move(opening_.front());
    opening_.pop_front();
    counts.in_progress = opening_.size();
    oldest();
  }
  opening_.push_back(std::move(close));
  counts.in_progress = opening_.size();
  return std::prev(opening_.end());
}

void LayeredListener::release(Slot slot) {
  opening_.erase(slot);
  counts.in_progress = opening_.size();
}

}  // namespace gw::net
