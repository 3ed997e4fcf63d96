// Persistent MQTT sessions (MQTT 5.0 §4.1): the session row, its subscriptions and its queued and
// in-flight QoS 1/2 messages, in three SQL tables (sessions, session_subs, session_msgs) that only this
// file touches. Runs on the storage thread inside the store's transaction; never commits. Each session
// message is a copy (no sharing between sessions): simple, at the cost of fan-out to many offline
// persistent sessions writing the payload once per session.
//
// session_subs.options packs the MQTT 5 subscription options byte (§3.8.3.1): bits 0-1 QoS, bit 2 No
// Local, bit 3 Retain As Published, bits 4-5 Retain Handling.
//
// A session's queue (its Queued rows, in seq order) may be far larger than what the broker keeps in
// memory: the broker pages it in with read_queued() and bounds it with drop_queued(); load() reads the
// rows that are not Queued through the partial index session_msgs_held (schema 5) and only counts the
// queued ones, so a start-up does not read the queues.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/base/result.hpp"
#include "storage/records.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

class SessionTable {
 public:
  Status prepare(Db& db);

  Status put_meta(const SessionMeta& m);        // insert or update the session row only
  Status remove(const std::string& client_id);  // the session, its subscriptions and messages
  // Its messages with seq <= upto (a part of a remove too large for the WAL's room: Store::session_delete).
  Status remove_messages_upto(const std::string& client_id, std::uint64_t upto);
  // The lowest and highest seq of its messages; nullopt when it has none.
  Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>, Status> message_seqs(
      const std::string& client_id);
  Status save(const SessionRecord& r);                                    // replaces the whole session
  Status subscribe(const std::string& client_id, const Subscription& s);  // insert or replace by filter
  Status unsubscribe(const std::string& client_id, const std::string& filter);
  Status put_message(const std::string& client_id, const SessionMessage& m);  // insert or replace by seq
  Status update_message(const std::string& client_id, std::uint64_t seq, MessageState state,
                        std::uint16_t packet_id);
  Status remove_message(const std::string& client_id, std::uint64_t seq);

  // Deletes sessions whose expiry passed (disconnected_unix + expiry_interval_s <= now_unix); sessions
  // with interval 0xFFFFFFFF never expire, connected ones (disconnected_unix 0) are kept. `ids`: their
  // client ids, when given.
  Status expire(std::int64_t now_unix, std::uint64_t* removed = nullptr,
                std::vector<std::string>* ids = nullptr);
  // The client ids of the sessions expire() would delete now.
  Status expired_ids(std::int64_t now_unix, std::vector<std::string>& ids);
  // Every session with its subscriptions, its rows that are not Queued, the count of its Queued rows
  // and the first `max_queued` of them.
  Status load(std::vector<SessionRecord>& out, std::uint32_t max_queued);
  // Up to max_rows Queued rows of the session with seq > after_seq, in seq order.
  Status read_queued(const std::string& client_id, std::uint64_t after_seq, std::uint32_t max_rows,
                     std::vector<SessionMessage>& out);
  // Deletes the `rows` oldest Queued rows with seq > after_seq; returns what was deleted.
  Result<SessionQueued, Status> drop_queued(const std::string& client_id, std::uint64_t after_seq,
                                            std::uint32_t rows);

  static std::uint8_t pack_options(const Subscription& s);
  static void unpack_options(std::uint8_t options, Subscription& s);

 private:
  Stmt put_meta_, del_session_, del_subs_, del_msgs_, put_sub_, del_sub_, put_msg_, update_msg_, del_msg_;
  Stmt select_expired_, load_meta_, load_subs_, load_held_, load_counts_, read_queued_, oldest_queued_,
      del_queued_, del_msgs_upto_, msg_seqs_;
};

}  // namespace gw::storage
