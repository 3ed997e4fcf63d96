// Unit tests for opening the database: a fresh file gets WAL, incremental auto-vacuum and the current
// schema; the committed schema-1, -2 and -3 fixtures (fixtures/storage/v1.db, v2.db and v3.db, made
// from v1.sql, v2.sql and v3.sql) migrate keeping their rows (outbox rows get the destination '' and
// released 0); damaged files and files from a newer schema are refused with a clear message and left
// untouched.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "gateway/base/clock.hpp"
#include "storage/open.hpp"
#include "storage/schema.hpp"
#include "storage/store.hpp"

namespace gw::storage {
namespace {

namespace fs = std::filesystem;

std::string make_temp_dir() {
  char tmpl[] = "/tmp/gw-storage-schema-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string fixture(const char* name) {
  return std::string(GW_STORAGE_FIXTURES) + "/" + name;
}

// All rows of a query, columns joined by '|', rows by '\n'.
std::string dump(Db& db, const char* sql) {
  Stmt s;
  if (s.prepare(db.handle(), sql) != SQLITE_OK) return std::string("error: ") + db.errmsg();
  std::string out;
  while (s.step() == SQLITE_ROW) {
    for (int i = 0; i < sqlite3_column_count(s.get()); ++i) out += (i ? "|" : "") + s.col_str(i);
    out += "\n";
  }
  return out;
}

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string copy_fixture(const char* name) {
    std::string to = dir_ + "/" + name;
    fs::copy_file(fixture(name), to);
    return to;
  }
  // Opens a copy of the fixture with the store, which migrates it; `path` is the copy's.
  std::unique_ptr<Store> open_copy(const char* name, std::string& path) {
    path = copy_fixture(name);
    StoreOptions o;
    o.path = path;
    o.maintenance_interval = std::chrono::hours(1);
    auto r = Store::open(o, clock_);
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return nullptr;
    }
    return std::move(r.value());
  }
  // The fixture stands for databases written by an older release: its schema must be what migrations
  // 1 .. version create, or the migration test proves nothing.
  void expect_fixture_is_migrations_up_to(const char* name, int version) {
    Db fresh;
    ASSERT_EQ(fresh.open(dir_ + "/fresh.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE), SQLITE_OK);
    std::string error;
    ASSERT_EQ(migrate(fresh, version, error), Status::Ok) << error;
    Db old;
    ASSERT_EQ(old.open(fixture(name), SQLITE_OPEN_READONLY), SQLITE_OK);
    const char* q = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name";
    EXPECT_EQ(dump(fresh, q), dump(old, q));
    EXPECT_EQ(dump(old, "PRAGMA user_version"), std::to_string(version) + "\n");
  }
  std::string dir_;
  ManualClock clock_;
};

// Submits a request through `submit` (given the completion), waits for the commit, and returns what the
// completion received; a failure or a missing completion fails the test.
template <typename T, typename Submit>
T completed(Store& store, Submit submit) {
  std::optional<Result<T, Status>> got;
  EXPECT_EQ(submit([&](Result<T, Status> r) { got.emplace(std::move(r)); }), Status::Ok);
  EXPECT_EQ(store.flush(), Status::Ok);
  store.run_completions();
  if (!got || !*got) {
    ADD_FAILURE() << "no successful completion";
    return T{};
  }
  return std::move(got->value());
}

// The outbox rows an outbox_read with these options returns, through the store's queue.
std::vector<OutboxRecord> read_outbox(Store& store, OutboxReadOptions ro) {
  return completed<std::vector<OutboxRecord>>(store, [&](auto done) { return store.outbox_read(ro, done); });
}

TEST_F(SchemaTest, FreshDatabaseGetsWalIncrementalVacuumAndCurrentSchema) {
  Db db;
  DbOptions o;
  o.path = dir_ + "/new.db";
  o.synchronous = Synchronous::Full;
  auto r = open_database(db, o);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().schema_before, 0);
  EXPECT_EQ(r.value().schema_after, kSchemaVersion);
  EXPECT_EQ(dump(db, "PRAGMA journal_mode"), "wal\n");
  EXPECT_EQ(dump(db, "PRAGMA auto_vacuum"), "2\n");  // INCREMENTAL
  EXPECT_EQ(dump(db, "PRAGMA synchronous"), "2\n");  // FULL
  EXPECT_EQ(dump(db, "PRAGMA max_page_count"), std::to_string(o.max_db_bytes / 4096) + "\n");
  EXPECT_EQ(dump(db, "PRAGMA user_version"), std::to_string(kSchemaVersion) + "\n");
}

TEST_F(SchemaTest, V1FixtureIsExactlyMigrationOne) {
  expect_fixture_is_migrations_up_to("v1.db", 1);
}

TEST_F(SchemaTest, V1FixtureMigratesToCurrentKeepingRows) {
  std::string path;
  auto opened = open_copy("v1.db", path);
  ASSERT_TRUE(opened);
  Store& store = *opened;

  auto st = store.stats();
  EXPECT_EQ(st.outbox_rows, 3u);
  EXPECT_EQ(st.outbox_rows_at_open, 3u);
  EXPECT_EQ(st.outbox_bytes, 42u);
  std::vector<OutboxRecord> rows;
  bool got = false;
  store.outbox_read(OutboxReadOptions{.max_rows = 10, .mark_inflight = false},
                    [&](Result<std::vector<OutboxRecord>, Status> res) {
                      ASSERT_TRUE(res);
                      rows = res.value();
                      got = true;
                    });
  ASSERT_EQ(store.flush(), Status::Ok);
  store.run_completions();
  ASSERT_TRUE(got);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].msg.origin, "dev-a");
  EXPECT_EQ(rows[0].msg.payload, "21");
  EXPECT_EQ(rows[0].msg.lane, 1);   // the column migration 2 added, with its default
  EXPECT_EQ(rows[0].msg.dest, "");  // the column migration 3 added, with its default
  EXPECT_EQ(store.outbox_backlog(""), (OutboxBacklog{3, 42}));
  EXPECT_EQ(rows[1].msg.origin, "dev-b");
  EXPECT_EQ(rows[2].msg.payload, "22");
  EXPECT_EQ(rows[2].msg.qos, 2);
  EXPECT_TRUE(rows[2].msg.retain);
  EXPECT_FALSE(rows[2].inflight);  // was in flight when the old version stopped: back in the queue
  EXPECT_EQ(rows[2].attempts, 1u);
  EXPECT_EQ(rows[2].enqueued_unix, 1700000002);

  // Sequences continue from the old file.
  std::uint64_t seq = 0;
  store.outbox_enqueue(OutboxMessage{"dev-a", 1, "farm/t1", "23", "", 1, false},
                       [&](Result<OutboxEnqueued, Status> res) { seq = res ? res.value().origin_seq : 0; });
  ASSERT_EQ(store.flush(), Status::Ok);
  store.run_completions();
  EXPECT_EQ(seq, 3u);

  auto sessions = store.load_sessions();
  ASSERT_TRUE(sessions);
  ASSERT_EQ(sessions.value().size(), 1u);
  const SessionRecord& s = sessions.value()[0];
  EXPECT_EQ(s.meta.client_id, "sensor-7");
  EXPECT_EQ(s.meta.expiry_interval_s, 0xFFFFFFFFu);
  ASSERT_EQ(s.subscriptions.size(), 1u);
  EXPECT_EQ(s.subscriptions[0].filter, "cmd/#");
  EXPECT_EQ(s.subscriptions[0].qos, 1);
  ASSERT_EQ(s.messages.size(), 2u);
  EXPECT_EQ(s.messages[1].packet_id, 7);
  EXPECT_EQ(s.messages[1].state, MessageState::AwaitPuback);
  auto retained = store.load_retained();
  ASSERT_TRUE(retained);
  ASSERT_EQ(retained.value().size(), 1u);
  EXPECT_EQ(retained.value()[0].payload, "online");
  auto token = store.kv_get_sync("netpie/token");
  ASSERT_TRUE(token);
  EXPECT_EQ(token.value().value_or(""), "token-1");
  store.close();

  Db db;
  ASSERT_EQ(db.open(path, SQLITE_OPEN_READONLY), SQLITE_OK);
  EXPECT_EQ(dump(db, "PRAGMA user_version"), std::to_string(kSchemaVersion) + "\n");
  EXPECT_EQ(dump(db, "PRAGMA integrity_check"), "ok\n");
  EXPECT_EQ(
      dump(db, "SELECT name FROM sqlite_master WHERE name IN ('history', 'outbox_ready') ORDER BY name"),
      "history\noutbox_ready\n");
}

TEST_F(SchemaTest, V2FixtureIsExactlyMigrationsOneAndTwo) {
  expect_fixture_is_migrations_up_to("v2.db", 2);
}

TEST_F(SchemaTest, V2FixtureMigratesGivingEveryRowTheEmptyDestination) {
  std::string path;
  auto opened = open_copy("v2.db", path);
  ASSERT_TRUE(opened);
  Store& store = *opened;

  auto st = store.stats();
  EXPECT_EQ(st.outbox_rows, 5u);
  EXPECT_EQ(st.outbox_bytes, 86u);
  EXPECT_EQ(store.outbox_backlog(""), (OutboxBacklog{5, 86}));
  EXPECT_EQ(store.outbox_backlog("netpie"), (OutboxBacklog{0, 0}));
  auto dests = completed<std::vector<OutboxDest>>(store, [&](auto done) { return store.outbox_dests(done); });
  ASSERT_EQ(dests.size(), 1u);
  EXPECT_EQ(dests[0].dest, "");
  EXPECT_EQ(dests[0].backlog, (OutboxBacklog{5, 86}));

  // Every row is the empty destination's, in lane order then id order, as before the migration.
  EXPECT_TRUE(read_outbox(store, OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false})
                  .empty());
  auto rows = read_outbox(store, OutboxReadOptions{.max_rows = 10, .mark_inflight = false});
  std::vector<std::uint64_t> ids;
  for (const auto& row : rows) {
    ids.push_back(row.id);
    EXPECT_EQ(row.msg.dest, "");
    EXPECT_FALSE(row.released);
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{6, 7, 8, 5, 9}));
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].msg.topic, "presence/dev-a");
  EXPECT_EQ(rows[0].msg.lane, 0);
  EXPECT_TRUE(rows[0].msg.retain);
  EXPECT_EQ(rows[1].msg.payload, "23");
  EXPECT_EQ(rows[1].msg.qos, 2);
  EXPECT_FALSE(rows[1].inflight);  // was in flight when the old version stopped: back in the queue
  EXPECT_EQ(rows[1].attempts, 2u);
  EXPECT_EQ(rows[3].msg.lane, 2);

  // Ids and per-origin sequences continue from the old file's high-water marks.
  auto enqueue = [&](OutboxMessage m) {
    return completed<OutboxEnqueued>(store, [&](auto done) { return store.outbox_enqueue(m, done); });
  };
  auto e = enqueue(OutboxMessage{.origin = "dev-a", .topic = "farm/t1", .payload = "24", .dest = "netpie"});
  EXPECT_EQ(e.id, 13u);
  EXPECT_EQ(e.origin_seq, 6u);
  e = enqueue(OutboxMessage{.origin = "gone", .topic = "farm/x", .payload = "1", .dest = "netpie"});
  EXPECT_EQ(e.id, 14u);
  EXPECT_EQ(e.origin_seq, 10u);

  // The daemon's first start after the upgrade: the old rows go to the first configured uplink.
  auto moved =
      completed<OutboxBacklog>(store, [&](auto done) { return store.outbox_claim("", "netpie", done); });
  EXPECT_EQ(moved, (OutboxBacklog{5, 86}));
  EXPECT_EQ(store.outbox_backlog(""), (OutboxBacklog{0, 0}));
  EXPECT_EQ(store.outbox_backlog("netpie"), (OutboxBacklog{7, 86 + 5 + 7 + 2 + 4 + 6 + 1}));
  ids.clear();
  for (const auto& row : read_outbox(store, OutboxReadOptions{.dest = "netpie", .max_rows = 10}))
    ids.push_back(row.id);
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{6, 7, 8, 13, 14, 5, 9}));
  store.close();

  Db db;
  ASSERT_EQ(db.open(path, SQLITE_OPEN_READONLY), SQLITE_OK);
  EXPECT_EQ(dump(db, "PRAGMA user_version"), std::to_string(kSchemaVersion) + "\n");
  EXPECT_EQ(dump(db, "PRAGMA integrity_check"), "ok\n");
  EXPECT_EQ(dump(db, "SELECT sql FROM sqlite_master WHERE name = 'outbox_ready'"),
            "CREATE INDEX outbox_ready ON outbox(dest, lane, id) WHERE state = 0\n");
  EXPECT_EQ(dump(db, "SELECT dest, COUNT(*) FROM outbox GROUP BY dest"), "netpie|7\n");
  EXPECT_EQ(dump(db, "SELECT topic FROM history"), "farm/t1\n");
}

TEST_F(SchemaTest, V3FixtureIsExactlyMigrationsOneToThree) {
  expect_fixture_is_migrations_up_to("v3.db", 3);
}

TEST_F(SchemaTest, V3FixtureMigratesKeepingEveryRowUnreleased) {
  std::string path;
  auto opened = open_copy("v3.db", path);
  ASSERT_TRUE(opened);
  Store& store = *opened;

  EXPECT_EQ(store.stats().outbox_rows, 4u);
  EXPECT_EQ(store.outbox_backlog("netpie"), (OutboxBacklog{3, 14 + 14 + 28}));
  EXPECT_EQ(store.outbox_backlog("corp.main"), (OutboxBacklog{1, 14}));
  auto rows = read_outbox(store, OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false});
  std::vector<std::uint64_t> ids;
  for (const auto& row : rows) {
    ids.push_back(row.id);
    EXPECT_FALSE(row.released) << row.id;  // the column migration 4 added, with its default
    EXPECT_EQ(row.msg.dest, "netpie");
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{24, 21, 22}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[2].msg.qos, 2);
  EXPECT_FALSE(rows[2].inflight);  // was in flight when the old version stopped: back in the queue
  EXPECT_EQ(rows[2].attempts, 1u);
  auto corp =
      read_outbox(store, OutboxReadOptions{.dest = "corp.main", .max_rows = 10, .mark_inflight = false});
  ASSERT_EQ(corp.size(), 1u);
  EXPECT_FALSE(corp[0].released);
  EXPECT_EQ(corp[0].msg.payload, "56");

  // The mark works on the migrated rows, and ids continue from the old file's high-water mark.
  std::optional<Status> released;
  ASSERT_EQ(store.outbox_release({22}, [&](Status s) { released = s; }), Status::Ok);
  ASSERT_EQ(store.flush(), Status::Ok);
  store.run_completions();
  EXPECT_EQ(released, Status::Ok);
  rows = read_outbox(store, OutboxReadOptions{.dest = "netpie", .max_rows = 10, .mark_inflight = false});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[2].released);
  EXPECT_FALSE(rows[0].released);
  auto e = completed<OutboxEnqueued>(store, [&](auto done) {
    return store.outbox_enqueue(OutboxMessage{.origin = "dev-a", .topic = "farm/t1", .dest = "netpie"}, done);
  });
  EXPECT_EQ(e.id, 25u);
  EXPECT_EQ(e.origin_seq, 10u);
  store.close();

  Db db;
  ASSERT_EQ(db.open(path, SQLITE_OPEN_READONLY), SQLITE_OK);
  EXPECT_EQ(dump(db, "PRAGMA user_version"), std::to_string(kSchemaVersion) + "\n");
  EXPECT_EQ(dump(db, "PRAGMA integrity_check"), "ok\n");
  EXPECT_EQ(dump(db, "SELECT id, released FROM outbox ORDER BY id"), "21|0\n22|1\n23|0\n24|0\n25|0\n");
  EXPECT_EQ(dump(db, "SELECT topic FROM history"), "farm/t1\n");
}

TEST_F(SchemaTest, CorruptFileIsRefusedWithTheRecoveryCommandAndLeftUntouched) {
  const std::string path = copy_fixture("corrupt.db");
  const std::string before = read_file(path);
  StoreOptions o;
  o.path = path;
  auto r = Store::open(o, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, Status::Corrupt);
  const std::string& m = r.error().message;
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("quick_check"), std::string::npos) << m;
  EXPECT_NE(m.find(recovery_command(path)), std::string::npos) << m;
  EXPECT_NE(m.find("sqlite3 '" + path + "' .dump"), std::string::npos) << m;
  EXPECT_EQ(read_file(path), before);
  EXPECT_FALSE(fs::exists(path + "-wal"));
}

TEST_F(SchemaTest, TheDocumentedRecoveryCommandRecoversTheReadableRows) {
  if (std::system("command -v sqlite3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no sqlite3 CLI on PATH";
  const std::string path = copy_fixture("corrupt.db");
  StoreOptions o;
  o.path = path;
  o.maintenance_interval = std::chrono::hours(1);
  ASSERT_FALSE(Store::open(o, clock_));
  const std::string cmd = "(" + recovery_command(path) + ") >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_TRUE(fs::exists(path + ".damaged"));  // the damaged file is kept
  auto r = Store::open(o, clock_);
  ASSERT_TRUE(r) << r.error().message;
  // 303 rows were written; the rows of the scrambled page are lost, the others are back.
  const auto rows = r.value()->stats().outbox_rows;
  EXPECT_GT(rows, 250u);
  EXPECT_LT(rows, 303u);
  r.value()->close();
  Db db;
  ASSERT_EQ(db.open(path, SQLITE_OPEN_READONLY), SQLITE_OK);
  EXPECT_EQ(dump(db, "PRAGMA integrity_check"), "ok\n");
  EXPECT_EQ(dump(db, "PRAGMA user_version"), std::to_string(kSchemaVersion) + "\n");
}

TEST_F(SchemaTest, NotADatabaseIsRefusedAndLeftUntouched) {
  const std::string path = copy_fixture("not_a_database.db");
  const std::string before = read_file(path);
  StoreOptions o;
  o.path = path;
  auto r = Store::open(o, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, Status::Corrupt);
  EXPECT_NE(r.error().message.find(path), std::string::npos);
  EXPECT_NE(r.error().message.find(recovery_command(path)), std::string::npos);
  EXPECT_EQ(read_file(path), before);
}

TEST_F(SchemaTest, NewerSchemaIsRefused) {
  const std::string path = dir_ + "/future.db";
  {
    Db db;
    ASSERT_EQ(db.open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE), SQLITE_OK);
    ASSERT_EQ(db.exec("CREATE TABLE x(a); PRAGMA user_version = 99;"), SQLITE_OK);
  }
  StoreOptions o;
  o.path = path;
  auto r = Store::open(o, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, Status::TooNew);
  EXPECT_NE(r.error().message.find("99"), std::string::npos);
}

TEST_F(SchemaTest, UnopenablePathNamesTheFile) {
  StoreOptions o;
  o.path = dir_ + "/no/such/dir/x.db";
  auto r = Store::open(o, clock_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, Status::CantOpen);
  EXPECT_NE(r.error().message.find(o.path), std::string::npos);
}

}  // namespace
}  // namespace gw::storage
