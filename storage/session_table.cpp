// Implementation of the session tables. load() reads the sessions and subscriptions in client_id order
// and joins them in memory; of the messages it reads the held rows (an index of the few not Queued),
// one counting pass over the queues, and at most `max_queued` rows per session.
#include "storage/session_table.hpp"

#include <algorithm>
#include <unordered_map>

namespace gw::storage {

Status SessionTable::prepare(Db& db) {
  int rc = prepare_all(
      db.handle(),
      {
          {&put_meta_,
           "INSERT INTO sessions(client_id, expiry_interval_s, disconnected_unix, extra) VALUES(?1, ?2, ?3, "
           "?4) "
           "ON CONFLICT(client_id) DO UPDATE SET expiry_interval_s = excluded.expiry_interval_s, "
           "disconnected_unix = excluded.disconnected_unix, extra = excluded.extra"},
          {&del_session_, "DELETE FROM sessions WHERE client_id = ?1"},
          {&del_subs_, "DELETE FROM session_subs WHERE client_id = ?1"},
          {&del_msgs_, "DELETE FROM session_msgs WHERE client_id = ?1"},
          {&del_msgs_upto_, "DELETE FROM session_msgs WHERE client_id = ?1 AND seq <= ?2"},
          {&msg_seqs_, "SELECT min(seq), max(seq) FROM session_msgs WHERE client_id = ?1"},
          {&put_sub_,
           "INSERT INTO session_subs(client_id, filter, options, subscription_id) VALUES(?1, ?2, ?3, ?4) "
           "ON CONFLICT(client_id, filter) DO UPDATE SET options = excluded.options, "
           "subscription_id = excluded.subscription_id"},
          {&del_sub_, "DELETE FROM session_subs WHERE client_id = ?1 AND filter = ?2"},
          {&put_msg_,
           "INSERT INTO session_msgs(client_id, seq, packet_id, state, qos, retain, topic, payload, "
           "properties, "
           "expiry_unix) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
           "ON CONFLICT(client_id, seq) DO UPDATE SET packet_id = excluded.packet_id, state = "
           "excluded.state, "
           "qos = excluded.qos, retain = excluded.retain, topic = excluded.topic, payload = "
           "excluded.payload, "
           "properties = excluded.properties, expiry_unix = excluded.expiry_unix"},
          {&update_msg_,
           "UPDATE session_msgs SET state = ?3, packet_id = ?4 WHERE client_id = ?1 AND seq = ?2"},
          {&del_msg_, "DELETE FROM session_msgs WHERE client_id = ?1 AND seq = ?2"},
          {&select_expired_,
           "SELECT client_id FROM sessions WHERE disconnected_unix > 0 AND expiry_interval_s != 4294967295 "
           "AND disconnected_unix + expiry_interval_s <= ?1"},
          {&load_meta_,
           "SELECT client_id, expiry_interval_s, disconnected_unix, extra FROM sessions ORDER BY client_id"},
          {&load_subs_,
           "SELECT client_id, filter, options, subscription_id FROM session_subs ORDER BY client_id, filter"},
          {&load_held_,
           "SELECT client_id, seq, packet_id, state, qos, retain, topic, payload, properties, expiry_unix "
           "FROM session_msgs INDEXED BY session_msgs_held WHERE state != 0 ORDER BY client_id, seq"},
          // One pass over the session messages: no payload is read (length() of a BLOB is taken from
          // the record header) except overflow-free topics.
          {&load_counts_,
           "SELECT client_id, total(state = 0), total(CASE WHEN state = 0 THEN length(CAST(topic AS BLOB)) + "
           "length(payload) ELSE 0 END), max(seq) FROM session_msgs GROUP BY client_id"},
          {&read_queued_,
           "SELECT seq, packet_id, state, qos, retain, topic, payload, properties, expiry_unix "
           "FROM session_msgs WHERE client_id = ?1 AND seq > ?2 AND state = 0 ORDER BY seq LIMIT ?3"},
          {&oldest_queued_,
           "SELECT seq, length(CAST(topic AS BLOB)) + length(payload) FROM session_msgs "
           "WHERE client_id = ?1 AND seq > ?2 AND state = 0 ORDER BY seq LIMIT ?3"},
          {&del_queued_,
           "DELETE FROM session_msgs WHERE client_id = ?1 AND seq > ?2 AND seq <= ?3 AND state = 0"},
      });
  return status_from_sqlite(rc);
}

std::uint8_t SessionTable::pack_options(const Subscription& s) {
  return static_cast<std::uint8_t>((s.qos & 0x03) | (s.no_local ? 0x04 : 0) |
                                   (s.retain_as_published ? 0x08 : 0) | ((s.retain_handling & 0x03) << 4));
}

void SessionTable::unpack_options(std::uint8_t o, Subscription& s) {
  s.qos = o & 0x03;
  s.no_local = (o & 0x04) != 0;
  s.retain_as_published = (o & 0x08) != 0;
  s.retain_handling = (o >> 4) & 0x03;
}

Status SessionTable::put_meta(const SessionMeta& m) {
  put_meta_.bind_text(1, m.client_id);
  put_meta_.bind(2, m.expiry_interval_s);
  put_meta_.bind(3, m.disconnected_unix);
  put_meta_.bind_blob(4, m.extra);
  return status_from_sqlite(put_meta_.run());
}

Status SessionTable::remove(const std::string& client_id) {
  for (Stmt* s : {&del_msgs_, &del_subs_, &del_session_}) {
    s->bind_text(1, client_id);
    int rc = s->run();
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  return Status::Ok;
}

Status SessionTable::remove_messages_upto(const std::string& client_id, std::uint64_t upto) {
  del_msgs_upto_.bind_text(1, client_id);
  del_msgs_upto_.bind_u64(2, upto);
  int rc = del_msgs_upto_.run();
  return rc == SQLITE_DONE ? Status::Ok : status_from_sqlite(rc);
}

Result<std::optional<std::pair<std::uint64_t, std::uint64_t>>, Status> SessionTable::message_seqs(
    const std::string& client_id) {
  StmtScope scope(msg_seqs_);
  msg_seqs_.bind_text(1, client_id);
  int rc = msg_seqs_.step();
  if (rc != SQLITE_ROW) return unexpected(status_from_sqlite(rc));
  if (msg_seqs_.col_null(0)) return std::optional<std::pair<std::uint64_t, std::uint64_t>>{};
  return std::optional{std::pair{msg_seqs_.col_u64(0), msg_seqs_.col_u64(1)}};
}

Status SessionTable::save(const SessionRecord& r) {
  Status st = remove(r.meta.client_id);
  if (st == Status::Ok) st = put_meta(r.meta);
  for (const Subscription& s : r.subscriptions) {
    if (st != Status::Ok) break;
    st = subscribe(r.meta.client_id, s);
  }
  for (const SessionMessage& m : r.messages) {
    if (st != Status::Ok) break;
    st = put_message(r.meta.client_id, m);
  }
  return st;
}

Status SessionTable::subscribe(const std::string& client_id, const Subscription& s) {
  put_sub_.bind_text(1, client_id);
  put_sub_.bind_text(2, s.filter);
  put_sub_.bind(3, pack_options(s));
  put_sub_.bind(4, s.subscription_id);
  return status_from_sqlite(put_sub_.run());
}

Status SessionTable::unsubscribe(const std::string& client_id, const std::string& filter) {
  del_sub_.bind_text(1, client_id);
  del_sub_.bind_text(2, filter);
  return status_from_sqlite(del_sub_.run());
}

Status SessionTable::put_message(const std::string& client_id, const SessionMessage& m) {
  put_msg_.bind_text(1, client_id);
  put_msg_.bind_u64(2, m.seq);
  put_msg_.bind(3, m.packet_id);
  put_msg_.bind(4, static_cast<std::int64_t>(m.state));
  put_msg_.bind(5, m.qos);
  put_msg_.bind(6, m.retain ? 1 : 0);
  put_msg_.bind_text(7, m.topic);
  put_msg_.bind_blob(8, m.payload);
  put_msg_.bind_blob(9, m.properties);
  put_msg_.bind(10, m.expiry_unix);
  return status_from_sqlite(put_msg_.run());
}

Status SessionTable::update_message(const std::string& client_id, std::uint64_t seq, MessageState state,
                                    std::uint16_t packet_id) {
  update_msg_.bind_text(1, client_id);
  update_msg_.bind_u64(2, seq);
  update_msg_.bind(3, static_cast<std::int64_t>(state));
  update_msg_.bind(4, packet_id);
  return status_from_sqlite(update_msg_.run());
}

Status SessionTable::remove_message(const std::string& client_id, std::uint64_t seq) {
  del_msg_.bind_text(1, client_id);
  del_msg_.bind_u64(2, seq);
  return status_from_sqlite(del_msg_.run());
}

Status SessionTable::expire(std::int64_t now_unix, std::uint64_t* removed,
                            std::vector<std::string>* removed_ids) {
  std::vector<std::string> ids;
  Status listed = expired_ids(now_unix, ids);
  if (listed != Status::Ok) return listed;
  for (const std::string& id : ids) {
    Status st = remove(id);
    if (st != Status::Ok) return st;
  }
  if (removed) *removed = ids.size();
  if (removed_ids) *removed_ids = std::move(ids);
  return Status::Ok;
}

Status SessionTable::expired_ids(std::int64_t now_unix, std::vector<std::string>& ids) {
  StmtScope scope(select_expired_);
  select_expired_.bind(1, now_unix);
  int rc;
  while ((rc = select_expired_.step()) == SQLITE_ROW) ids.push_back(select_expired_.col_str(0));
  return rc == SQLITE_DONE ? Status::Ok : status_from_sqlite(rc);
}

namespace {
SessionMessage message_row(Stmt& q, int first) {
  SessionMessage m;
  m.seq = q.col_u64(first);
  m.packet_id = static_cast<std::uint16_t>(q.col_int(first + 1));
  m.state = static_cast<MessageState>(q.col_int(first + 2));
  m.qos = static_cast<std::uint8_t>(q.col_int(first + 3));
  m.retain = q.col_int(first + 4) != 0;
  m.topic = q.col_str(first + 5);
  m.payload = q.col_str(first + 6);
  m.properties = q.col_str(first + 7);
  m.expiry_unix = q.col_int(first + 8);
  return m;
}
}  // namespace

Status SessionTable::load(std::vector<SessionRecord>& out, std::uint32_t max_queued) {
  std::unordered_map<std::string, std::size_t> index;
  int rc;
  {
    StmtScope scope(load_meta_);
    while ((rc = load_meta_.step()) == SQLITE_ROW) {
      SessionRecord r;
      r.meta.client_id = load_meta_.col_str(0);
      r.meta.expiry_interval_s = static_cast<std::uint32_t>(load_meta_.col_int(1));
      r.meta.disconnected_unix = load_meta_.col_int(2);
      r.meta.extra = load_meta_.col_str(3);
      index.emplace(r.meta.client_id, out.size());
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  {
    StmtScope scope(load_subs_);
    while ((rc = load_subs_.step()) == SQLITE_ROW) {
      auto it = index.find(load_subs_.col_str(0));
      if (it == index.end()) continue;  // orphan rows cannot be made by this code; ignore them
      Subscription s;
      s.filter = load_subs_.col_str(1);
      unpack_options(static_cast<std::uint8_t>(load_subs_.col_int(2)), s);
      s.subscription_id = static_cast<std::uint32_t>(load_subs_.col_int(3));
      out[it->second].subscriptions.push_back(std::move(s));
    }
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  {
    StmtScope scope(load_held_);
    while ((rc = load_held_.step()) == SQLITE_ROW) {
      auto it = index.find(load_held_.col_str(0));
      if (it == index.end()) continue;
      out[it->second].messages.push_back(message_row(load_held_, 1));
    }
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  {
    StmtScope scope(load_counts_);
    while ((rc = load_counts_.step()) == SQLITE_ROW) {
      auto it = index.find(load_counts_.col_str(0));
      if (it == index.end()) continue;
      SessionRecord& r = out[it->second];
      r.queued.rows = static_cast<std::uint64_t>(load_counts_.col_int(1));
      r.queued.bytes = static_cast<std::uint64_t>(load_counts_.col_int(2));
      r.last_seq = load_counts_.col_u64(3);
    }
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  for (SessionRecord& r : out) {
    if (r.queued.rows == 0 || max_queued == 0) continue;
    Status st = read_queued(r.meta.client_id, 0, max_queued, r.messages);
    if (st != Status::Ok) return st;
    std::sort(r.messages.begin(), r.messages.end(),
              [](const SessionMessage& a, const SessionMessage& b) { return a.seq < b.seq; });
  }
  return Status::Ok;
}

Status SessionTable::read_queued(const std::string& client_id, std::uint64_t after_seq,
                                 std::uint32_t max_rows, std::vector<SessionMessage>& out) {
  StmtScope scope(read_queued_);
  read_queued_.bind_text(1, client_id);
  read_queued_.bind_u64(2, after_seq);
  read_queued_.bind(3, static_cast<std::int64_t>(max_rows));
  int rc;
  while ((rc = read_queued_.step()) == SQLITE_ROW) out.push_back(message_row(read_queued_, 0));
  return rc == SQLITE_DONE ? Status::Ok : status_from_sqlite(rc);
}

Result<SessionQueued, Status> SessionTable::drop_queued(const std::string& client_id, std::uint64_t after_seq,
                                                        std::uint32_t rows) {
  SessionQueued dropped;
  std::uint64_t last = 0;
  {
    StmtScope scope(oldest_queued_);
    oldest_queued_.bind_text(1, client_id);
    oldest_queued_.bind_u64(2, after_seq);
    oldest_queued_.bind(3, static_cast<std::int64_t>(rows));
    int rc;
    while ((rc = oldest_queued_.step()) == SQLITE_ROW) {
      last = oldest_queued_.col_u64(0);
      dropped.rows++;
      dropped.bytes += static_cast<std::uint64_t>(oldest_queued_.col_int(1));
    }
    if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  }
  if (dropped.rows == 0) return dropped;
  del_queued_.bind_text(1, client_id);
  del_queued_.bind_u64(2, after_seq);
  del_queued_.bind_u64(3, last);
  int rc = del_queued_.run();
  if (rc != SQLITE_DONE) return unexpected(status_from_sqlite(rc));
  return dropped;
}

}  // namespace gw::storage
