// Postboxes of the NETPIE local endpoint: per app, named FIFO boxes of text messages with an optional
// tag, written by @writepostbox/<box> or PUT /postbox and read (one message, oldest first) by
// @readpostbox/<box> or GET /postbox (docs/netpie-protocol.md §7.3, §9.2). Kept in memory and, one store
// entry per message, in the TokenStore so they survive a restart. Bounded per box and in bytes overall; a
// write past a bound is refused, never dropped. Loop thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/config/config.hpp"
#include "gateway/netpie/registry.hpp"

namespace gw::netpie {

struct PostboxMessage {
  std::string msg;
  std::int64_t ts = 0;  // unix seconds when written
  std::string tag;
};

class Postboxes {
 public:
  Postboxes(const config::Netpie& cfg, const Clock& clock, TokenStore* store);
  void set_store(TokenStore* store) { store_ = store; }
  std::size_t load(const std::vector<std::pair<std::string, std::string>>& entries);

  // A box name is one topic level: 1 to 64 bytes, no '/', '+', '#' or control characters.
  static bool valid_name(std::string_view box);
  // Tags: up to 64 printable bytes.
  static bool valid_tag(std::string_view tag);

  enum class WriteError { Full, StoreFailed };
  using WriteDone = std::function<void(std::optional<WriteError>)>;
  // Appends; `done` runs once the message is durable (nullopt) or refused.
  void write(const std::string& appid, const std::string& box, std::string msg, std::string tag,
             WriteDone done);
  // Removes and returns the oldest message (the oldest with `tag` when a tag is given).
  std::optional<PostboxMessage> read(const std::string& appid, const std::string& box,
                                     std::string_view tag = {});
  std::size_t size(const std::string& appid, const std::string& box) const;
  std::uint64_t bytes() const { return bytes_; }

 private:
  struct Entry {
    std::uint64_t seq = 0;
    PostboxMessage m;
  };
  static std::string box_key(const std::string& appid, const std::string& box) { return appid + '\0' + box; }
  std::string store_key(const std::string& appid, const std::string& box, std::uint64_t seq) const;

  const config::Netpie& cfg_;
  const Clock& clock_;
  TokenStore* store_;
  std::map<std::string, std::deque<Entry>> boxes_;
  std::uint64_t bytes_ = 0;
  std::uint64_t next_seq_ = 1;
};

const char* to_string(Postboxes::WriteError e);

}  // namespace gw::netpie
