// Session helpers that need no broker context, and the table of sessions by client id.
#include "gateway/broker/session.hpp"

#include <algorithm>

namespace gw::broker {

std::uint16_t Session::next_packet_id() {
  // Skip 0 and ids still in flight (MQTT 5.0 §2.2.1). The window is far below 65,535, so this ends.
  while (true) {
    ++last_packet_id;
    if (last_packet_id == 0) last_packet_id = 1;
    auto used = std::any_of(inflight.begin(), inflight.end(),
                            [&](const InflightOut& f) { return f.packet_id == last_packet_id; });
    if (!used) return last_packet_id;
  }
}

SessionTable::~SessionTable() {
  for (Session* s : slots_) delete s;
}

Session* SessionTable::find(std::string_view client_id) const {
  if (slots_.empty()) return nullptr;
  for (std::size_t i = home(client_id); slots_[i] != nullptr; i = next(i)) {
    if (slots_[i]->client_id == client_id) return slots_[i];
  }
  return nullptr;
}

Session* SessionTable::insert(std::unique_ptr<Session> s) {
  if ((size_ + 1) * 10 > slots_.size() * 7) grow();
  std::size_t i = home(s->client_id);
  while (slots_[i] != nullptr) i = next(i);
  slots_[i] = s.release();
  ++size_;
  return slots_[i];
}

void SessionTable::erase(Session* s) {
  std::size_t hole = home(s->client_id);
  while (slots_[hole] != s) hole = next(hole);
  slots_[hole] = nullptr;
  --size_;
  delete s;
  // Backward shift (Knuth's algorithm R): move up every entry of the run after the hole that may live
  // there, i.e. whose home is not cyclically in (hole, j].
  for (std::size_t j = next(hole); slots_[j] != nullptr; j = next(j)) {
    const std::size_t k = home(slots_[j]->client_id);
    const bool stays = hole < j ? (hole < k && k <= j) : (hole < k || k <= j);
    if (!stays) {
      slots_[hole] = slots_[j];
      slots_[j] = nullptr;
      hole = j;
    }
  }
}

void SessionTable::grow() {
  std::vector<Session*> old(std::max<std::size_t>(16, slots_.size() * 2), nullptr);
  old.swap(slots_);
  for (Session* s : old) {
    if (s == nullptr) continue;
    std::size_t i = home(s->client_id);
    while (slots_[i] != nullptr) i = next(i);
    slots_[i] = s;
  }
}

}  // namespace gw::broker
