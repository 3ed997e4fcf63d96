// Implementation of the session tables. load() reads the three tables in client_id order and joins
// them in memory, so it costs three scans whatever the number of sessions.
#include "storage/session_table.hpp"

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
          {&load_msgs_,
           "SELECT client_id, seq, packet_id, state, qos, retain, topic, payload, properties, expiry_unix "
           "FROM session_msgs ORDER BY client_id, seq"},
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

Status SessionTable::expire(std::int64_t now_unix, std::uint64_t* removed) {
  std::vector<std::string> ids;
  {
    StmtScope scope(select_expired_);
    select_expired_.bind(1, now_unix);
    int rc;
    while ((rc = select_expired_.step()) == SQLITE_ROW) ids.push_back(select_expired_.col_str(0));
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  for (const std::string& id : ids) {
    Status st = remove(id);
    if (st != Status::Ok) return st;
  }
  if (removed) *removed = ids.size();
  return Status::Ok;
}

Status SessionTable::load(std::vector<SessionRecord>& out) {
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
    StmtScope scope(load_msgs_);
    while ((rc = load_msgs_.step()) == SQLITE_ROW) {
      auto it = index.find(load_msgs_.col_str(0));
      if (it == index.end()) continue;
      SessionMessage m;
      m.seq = load_msgs_.col_u64(1);
      m.packet_id = static_cast<std::uint16_t>(load_msgs_.col_int(2));
      m.state = static_cast<MessageState>(load_msgs_.col_int(3));
      m.qos = static_cast<std::uint8_t>(load_msgs_.col_int(4));
      m.retain = load_msgs_.col_int(5) != 0;
      m.topic = load_msgs_.col_str(6);
      m.payload = load_msgs_.col_str(7);
      m.properties = load_msgs_.col_str(8);
      m.expiry_unix = load_msgs_.col_int(9);
      out[it->second].messages.push_back(std::move(m));
    }
    if (rc != SQLITE_DONE) return status_from_sqlite(rc);
  }
  return Status::Ok;
}

}  // namespace gw::storage
