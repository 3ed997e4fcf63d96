// Unit tests for a full disk: durable writes are refused with a reason (DiskFull), the file stays
// consistent (PRAGMA integrity_check = ok), the store keeps running, fire-and-forget writes are kept and
// written later, and writes succeed again by themselves once space returns; no acknowledged row is lost;
// a QoS 2 release mark is reported Ok only when committed, and a refused one left nothing in the file.
// Two ways to fill up: the database size cap (max_page_count, always) and a 1 MiB tmpfs (root only;
// skipped elsewhere). Also the mapping of SQLite result codes to Status.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/log.hpp"
#include "storage/store.hpp"

namespace gw::storage {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string make_temp_dir() {
  char tmpl[] = "/tmp/gw-storage-failure-XXXXXX";
  const char* d = mkdtemp(tmpl);
  return d ? d : "";
}

std::string query_text(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::string out = "error";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

OutboxMessage big(std::size_t n) {
  OutboxMessage m;
  m.origin = "dev";
  m.topic = "farm/dev";
  m.payload.assign(n, 'x');
  return m;
}

class StoreFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    ASSERT_FALSE(dir_.empty());
    options_.path = dir_ + "/store.db";
    options_.retry_backoff = 5ms;
    options_.maintenance_interval = std::chrono::hours(1);
    options_.vacuum_free_pages = 0;
  }
  void TearDown() override {
    store_.reset();
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    fs::remove_all(dir_);
  }
  void open() {
    store_.reset();
    auto r = Store::open(options_, clock_);
    ASSERT_TRUE(r) << r.error().message;
    store_ = std::move(r.value());
  }
  // Mounts a 1 MiB tmpfs on the test directory with 256 KiB of ballast in it (removed to free space) and
  // sets options that fit it; returns why it cannot (not root, no tmpfs): the test skips then.
  std::string mount_small_tmpfs() {
    if (geteuid() != 0) return "mounting a tmpfs needs root";
    if (mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1m") != 0) {
      return std::string("cannot mount a tmpfs: ") + std::strerror(errno);
    }
    mounted_ = true;
    {
      std::ofstream ballast(dir_ + "/ballast", std::ios::binary);
      std::string block(64 * 1024, 'b');
      for (int i = 0; i < 4; ++i) ballast << block;
    }
    options_.max_db_bytes = 0;
    options_.checkpoint_pages = 32;
    options_.cache_kib = 256;
    return "";
  }
  // Enqueues one message and waits for its completion.
  Result<OutboxEnqueued, Status> enqueue_sync(const OutboxMessage& m) {
    std::optional<Result<OutboxEnqueued, Status>> out;
    Status s =
        store_->outbox_enqueue(m, [&](Result<OutboxEnqueued, Status> r) { out.emplace(std::move(r)); });
    if (s != Status::Ok) return unexpected(s);
    store_->flush();
    store_->run_completions();
    if (!out) return unexpected(Status::Internal);
    return *out;
  }
  // Reads (marking in flight) up to 20 rows and waits for the result.
  Result<std::vector<OutboxRecord>, Status> read_sync() {
    std::optional<Result<std::vector<OutboxRecord>, Status>> rows;
    Status s =
        store_->outbox_read(OutboxReadOptions{.max_rows = 20},
                            [&](Result<std::vector<OutboxRecord>, Status> r) { rows.emplace(std::move(r)); });
    if (s != Status::Ok) return unexpected(s);
    store_->flush();
    store_->run_completions();
    if (!rows) return unexpected(Status::Internal);
    return *rows;
  }
  // Opens and fills the store with rows of `payload` bytes until a durable write is refused for room;
  // returns the ids acknowledged.
  std::vector<std::uint64_t> open_and_fill_to_disk_full(std::size_t payload) {
    open();
    Status refusal = Status::Ok;
    std::vector<std::uint64_t> acked = fill(payload, refusal);
    EXPECT_EQ(refusal, Status::DiskFull) << to_string(refusal);
    return acked;
  }
  // Submits a request with a completion and returns the status it got.
  template <typename Submit>
  Status wait_status(Submit&& submit) {
    std::optional<Status> got;
    EXPECT_EQ(submit([&](Status s) { got = s; }), Status::Ok);
    store_->flush();
    store_->run_completions();
    return got.value_or(Status::Internal);
  }
  // A persistent session (subscribed to farm/#) whose queue of 1000-byte messages is filled until the disk
  // refuses one; returns how many were queued.
  std::size_t fill_session_queue(const SessionMeta& meta) {
    EXPECT_EQ(wait_status([&](Store::Done d) { return store_->session_put_meta(meta, d); }), Status::Ok);
    EXPECT_EQ(wait_status([&](Store::Done d) {
                return store_->session_subscribe(meta.client_id, Subscription{.filter = "farm/#", .qos = 1},
                                                 d);
              }),
              Status::Ok);
    std::size_t queued = 0;
    for (std::uint64_t seq = 1; seq <= 2000; ++seq) {
      SessionMessage m{.seq = seq, .topic = "farm/t", .payload = std::string(1000, 'q')};
      const Status s =
          wait_status([&](Store::Done d) { return store_->session_message_put(meta.client_id, m, d); });
      if (s != Status::Ok) {
        EXPECT_EQ(s, Status::DiskFull) << to_string(s);
        break;
      }
      queued += 1;
    }
    return queued;
  }
  // Reads (marking in flight) until `rows` rows are in flight, a read at a time.
  void read_all_in_flight(std::size_t rows) {
    std::size_t in_flight = 0;
    for (int round = 0; round < 200 && in_flight < rows; ++round) {
      const auto read = read_sync();
      ASSERT_TRUE(read) << "read at the bound: " << to_string(read.error());
      ASSERT_FALSE(read.value().empty());
      in_flight += read.value().size();
    }
    ASSERT_EQ(in_flight, rows);
  }
  // Fills the store until a durable write is refused; returns the ids that were acknowledged.
  std::vector<std::uint64_t> fill(std::size_t payload, Status& refusal) {
    std::vector<std::uint64_t> acked;
    refusal = Status::Ok;
    for (int i = 0; i < 2000; ++i) {
      auto r = enqueue_sync(big(payload));
      if (!r) {
        refusal = r.error();
        break;
      }
      acked.push_back(r.value().id);
    }
    return acked;
  }
  // Opens with a 1 MiB bound (the config's smallest) and fills it with 1000-byte rows until refused.
  std::vector<std::uint64_t> fill_to_a_1_mib_bound() {
    options_.max_db_bytes = 1024 * 1024;
    open();
    Status refusal = Status::Ok;
    std::vector<std::uint64_t> acked = fill(1000, refusal);
    EXPECT_EQ(refusal, Status::DiskFull);
    return acked;
  }
  std::set<std::uint64_t> ids_in_file() {
    std::set<std::uint64_t> ids;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(options_.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db, "SELECT id FROM outbox", -1, &s, nullptr);
      while (sqlite3_step(s) == SQLITE_ROW)
        ids.insert(static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)));
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return ids;
  }

  std::string dir_;
  bool mounted_ = false;
  ManualClock clock_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreFailureTest, SizeCapRefusesWithReasonKeepsFileConsistentAndRecoversWhenRowsAreAcked) {
  options_.max_db_bytes = 1024 * 1024;  // the smallest bound the config takes
  open();
  Status refusal = Status::Ok;
  const std::vector<std::uint64_t> acked = fill(3000, refusal);
  ASSERT_EQ(refusal, Status::DiskFull);
  ASSERT_GT(acked.size(), 10u);
  auto st = store_->stats();
  EXPECT_TRUE(st.degraded);
  EXPECT_EQ(st.last_error, Status::DiskFull);
  EXPECT_GE(st.failed_transactions, 1u);
  EXPECT_EQ(st.outbox_rows, acked.size());  // counters rolled back with the refused write
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
  EXPECT_EQ(ids_in_file(), std::set<std::uint64_t>(acked.begin(), acked.end()));

  // Still full: another durable write is refused; a write no one waits on is kept for later.
  EXPECT_FALSE(enqueue_sync(big(3000)));
  ASSERT_EQ(store_->kv_put("netpie/token", std::string(3000, 't')), Status::Ok);
  EXPECT_EQ(store_->flush(), Status::Ok);

  // The uplink drains half of the backlog: the rows are deleted and their pages reused.
  bool read = false;
  store_->outbox_read(OutboxReadOptions{.max_rows = static_cast<std::uint32_t>(acked.size() / 2)},
                      [&](Result<std::vector<OutboxRecord>, Status> r) {
                        ASSERT_TRUE(r);
                        std::vector<std::uint64_t> ids;
                        for (const auto& rec : r.value()) ids.push_back(rec.id);
                        store_->outbox_ack(to_ranges(ids));
                        read = true;
                      });
  EXPECT_EQ(store_->flush(), Status::Ok);
  store_->run_completions();
  ASSERT_TRUE(read);
  EXPECT_EQ(store_->flush(), Status::Ok);

  // Writes succeed again, by themselves: the kept kv write, then new durable ones.
  auto again = enqueue_sync(big(3000));
  ASSERT_TRUE(again) << to_string(again.error());
  auto token = store_->kv_get_sync("netpie/token");
  ASSERT_TRUE(token);
  EXPECT_TRUE(token.value().has_value());
  EXPECT_FALSE(store_->stats().degraded);
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
  // The unacknowledged half of what was accepted is all there.
  std::set<std::uint64_t> in_file = ids_in_file();
  for (std::size_t i = acked.size() / 2; i < acked.size(); ++i) EXPECT_EQ(in_file.count(acked[i]), 1u);
}

TEST_F(StoreFailureTest, FullFileSystemRefusesWithReasonAndRecoversWhenSpaceIsFreed) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  open();
  Status refusal = Status::Ok;
  std::vector<std::uint64_t> acked = fill(2000, refusal);
  ASSERT_EQ(refusal, Status::DiskFull) << to_string(refusal);
  ASSERT_GT(acked.size(), 20u);
  EXPECT_EQ(store_->stats().last_error, Status::DiskFull);
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");

  // Keep going until three writes in a row are refused (a checkpoint may still free room inside the
  // WAL file now and then); the store keeps running all along.
  int refused_in_row = 0;
  for (int i = 0; i < 200 && refused_in_row < 3; ++i) {
    auto r = enqueue_sync(big(2000));
    if (r) {
      acked.push_back(r.value().id);
      refused_in_row = 0;
    } else {
      EXPECT_EQ(r.error(), Status::DiskFull);
      ++refused_in_row;
    }
  }
  ASSERT_EQ(refused_in_row, 3);
  // Someone frees space; the next write succeeds without any intervention.
  fs::remove(dir_ + "/ballast");
  auto again = enqueue_sync(big(2000));
  ASSERT_TRUE(again) << to_string(again.error());
  EXPECT_FALSE(store_->stats().degraded);
  store_->close();

  // Every acknowledged message survived, and the file is consistent after a restart.
  open();
  EXPECT_EQ(store_->stats().outbox_rows, acked.size() + 1);
  std::set<std::uint64_t> in_file = ids_in_file();
  for (std::uint64_t id : acked) EXPECT_EQ(in_file.count(id), 1u) << id;
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

TEST_F(StoreFailureTest, ReleaseOnAFullFileSystemCompletesOnlyWithWhatTheFileHolds) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  open();
  Status refusal = Status::Ok;
  const std::vector<std::uint64_t> acked = fill(2000, refusal);
  ASSERT_EQ(refusal, Status::DiskFull) << to_string(refusal);
  ASSERT_GT(acked.size(), 20u);

  // Releases the row `id` (not released before) and returns the completion's status; the completion
  // also reads, through another connection, what the file holds for the row at that moment.
  auto release = [&](std::uint64_t id, std::string& in_file) {
    std::optional<Status> got;
    const std::string q = "SELECT released FROM outbox WHERE id = " + std::to_string(id);
    EXPECT_EQ(store_->outbox_release({id},
                                     [&](Status s) {
                                       got = s;
                                       in_file = query_text(options_.path, q.c_str());
                                     }),
              Status::Ok);
    store_->flush();
    store_->run_completions();
    return got.value_or(Status::Internal);
  };
  // The disk bound keeps room for the drain: new rows are refused, but a release (a change to rows
  // already there) still commits, every one of them.
  std::set<std::uint64_t> released;
  std::size_t i = 0;
  for (; i < acked.size() / 2; ++i) {
    std::string in_file;
    ASSERT_EQ(release(acked[i], in_file), Status::Ok) << "release of " << acked[i] << " at the bound";
    EXPECT_EQ(in_file, "1") << acked[i];
    released.insert(acked[i]);
  }
  EXPECT_FALSE(enqueue_sync(big(2000))) << "a new row was taken at the bound";
  // Someone else takes every byte the file system has left (the reserve file included): now a release
  // too may be refused. An Ok must mean the mark is committed; a refusal that nothing of it was written.
  fs::remove(options_.path + "-reserve");
  {
    std::ofstream filler(dir_ + "/filler", std::ios::binary);
    std::string block(4096, 'f');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }
  std::uint64_t refused_id = 0;
  for (; i < acked.size() && refused_id == 0; ++i) {
    std::string in_file;
    const Status s = release(acked[i], in_file);
    if (s == Status::Ok) {
      EXPECT_EQ(in_file, "1") << acked[i];
      released.insert(acked[i]);
    } else {
      EXPECT_EQ(s, Status::DiskFull) << to_string(s);
      EXPECT_EQ(in_file, "0") << acked[i];
      refused_id = acked[i];
    }
  }
  ASSERT_NE(refused_id, 0u) << "no release was refused on the full file system";
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");

  // Space comes back: the same release now succeeds, by itself.
  fs::remove(dir_ + "/filler");
  std::string in_file;
  EXPECT_EQ(release(refused_id, in_file), Status::Ok);
  EXPECT_EQ(in_file, "1");
  released.insert(refused_id);
  store_->close();

  // Every release whose completion said Ok is in the file after a restart, and no other.
  open();
  std::optional<Result<std::vector<OutboxRecord>, Status>> rows;
  ASSERT_EQ(store_->outbox_read(
                OutboxReadOptions{.max_rows = 100000, .max_bytes = 1ull << 30, .mark_inflight = false},
                [&](Result<std::vector<OutboxRecord>, Status> r) { rows.emplace(std::move(r)); }),
            Status::Ok);
  store_->flush();
  store_->run_completions();
  ASSERT_TRUE(rows && *rows);
  std::set<std::uint64_t> released_in_file;
  for (const OutboxRecord& r : rows->value())
    if (r.released) released_in_file.insert(r.id);
  EXPECT_EQ(released_in_file, released);
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

TEST_F(StoreFailureTest, ReadOnlyFileSystemAtOpenIsRefusedWithAClearMessage) {
  if (geteuid() != 0) GTEST_SKIP() << "bind mounts need root";
  open();
  ASSERT_EQ(store_->kv_put("k", "v"), Status::Ok);
  store_.reset();
  // The same directory, seen through a read-only bind mount.
  const std::string ro = dir_ + "-ro";
  fs::create_directory(ro);
  if (mount(dir_.c_str(), ro.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
      mount(nullptr, ro.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
    umount2(ro.c_str(), MNT_DETACH);
    fs::remove(ro);
    GTEST_SKIP() << "cannot make a read-only bind mount: " << std::strerror(errno);
  }
  StoreOptions o = options_;
  o.path = ro + "/store.db";
  auto r = Store::open(o, clock_);
  umount2(ro.c_str(), MNT_DETACH);
  fs::remove(ro);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().status, Status::ReadOnly) << to_string(r.error().status);
  EXPECT_NE(r.error().message.find(o.path), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("read-only"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("damaged"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find(".dump"), std::string::npos) << r.error().message;
}

TEST(StorageStatus, MapsSqliteResultCodes) {
  EXPECT_EQ(status_from_sqlite(SQLITE_OK), Status::Ok);
  EXPECT_EQ(status_from_sqlite(SQLITE_DONE), Status::Ok);
  EXPECT_EQ(status_from_sqlite(SQLITE_FULL), Status::DiskFull);
  EXPECT_EQ(status_from_sqlite(SQLITE_READONLY), Status::ReadOnly);
  EXPECT_EQ(status_from_sqlite(SQLITE_READONLY_DBMOVED), Status::ReadOnly);
  EXPECT_EQ(status_from_sqlite(SQLITE_IOERR), Status::IoError);
  EXPECT_EQ(status_from_sqlite(SQLITE_IOERR_FSYNC), Status::IoError);
  EXPECT_EQ(status_from_sqlite(SQLITE_IOERR_SHMSIZE), Status::IoError);
  EXPECT_EQ(status_from_sqlite(SQLITE_CORRUPT), Status::Corrupt);
  EXPECT_EQ(status_from_sqlite(SQLITE_NOTADB), Status::Corrupt);
  EXPECT_EQ(status_from_sqlite(SQLITE_BUSY_SNAPSHOT), Status::Busy);
  EXPECT_EQ(status_from_sqlite(SQLITE_CANTOPEN), Status::CantOpen);
  EXPECT_EQ(status_from_sqlite(SQLITE_CONSTRAINT), Status::Internal);
  EXPECT_TRUE(fails_transaction(Status::DiskFull));
  EXPECT_TRUE(fails_transaction(Status::ReadOnly));
  EXPECT_TRUE(fails_transaction(Status::IoError));
  EXPECT_FALSE(fails_transaction(Status::QuotaExceeded));
  EXPECT_EQ(to_string(Status::DiskFull), "disk_full");
  EXPECT_EQ(to_string(Status::QuotaExceeded), "quota_exceeded");
}

// The disk bound holds room for the drain: a store reopened at its bound (a restart on a full disk)
// refuses new rows but reads, marks in flight and deletes the old ones, and then takes new rows again.
TEST_F(StoreFailureTest, ReopenedAtTheBoundDrainsAndThenTakesNewRows) {
  const std::vector<std::uint64_t> acked = fill_to_a_1_mib_bound();
  store_->outbox_enqueue(big(1000));  // a write no one waits on, kept and retried while full
  store_->flush();
  open();  // a restart at the bound
  EXPECT_FALSE(enqueue_sync(big(1000))) << "a new row was taken at the bound after the restart";
  // Kept and retried with every batch while full: it must not take the drain's reads and acks with it.
  store_->outbox_enqueue(big(1000));
  // The two writes no one waits on are retried with every batch: once the drain has made room they are
  // committed too, before or after the last read, so they may be drained with the acknowledged rows.
  std::set<std::uint64_t> drained;
  auto all_acked_drained = [&] {
    return std::all_of(acked.begin(), acked.end(), [&](std::uint64_t id) { return drained.contains(id); });
  };
  for (int round = 0; round < 100 && !all_acked_drained(); ++round) {
    const auto rows = read_sync();
    ASSERT_TRUE(rows) << "read at the bound: " << to_string(rows.error());
    std::vector<std::uint64_t> ids;
    for (const auto& r : rows.value()) ids.push_back(r.id);
    std::optional<Status> ack;
    store_->outbox_ack(to_ranges(ids), [&](Status s) { ack = s; });
    store_->flush();
    store_->run_completions();
    ASSERT_EQ(ack.value_or(Status::Internal), Status::Ok);
    drained.insert(ids.begin(), ids.end());
  }
  EXPECT_TRUE(all_acked_drained()) << drained.size() << " rows drained of " << acked.size()
                                   << " acknowledged";
  EXPECT_LE(drained.size(), acked.size() + 2) << "rows drained that were never written";
  EXPECT_TRUE(enqueue_sync(big(1000))) << "no new row taken after the drain";
}

// Errors named for what they are (storage/README.md "Failures"): each condition has its own message and
// advice, and only a damaged file is sent to the recovery command.
void expect_named(const OpenError& e, Status want, const char* words) {
  EXPECT_EQ(e.status, want) << to_string(e.status) << ": " << e.message;
  EXPECT_NE(e.message.find(words), std::string::npos) << e.message;
  if (want != Status::Corrupt) {
    EXPECT_EQ(e.message.find("damaged"), std::string::npos) << e.message;
    EXPECT_EQ(e.message.find(".dump"), std::string::npos) << "recovery advised for " << e.message;
  }
}

// The failing disk: reads through the store's VFS fail as the default VFS reports EIO.
TEST_F(StoreFailureTest, IoErrorAtOpenIsNamedAnIoErrorNotADamagedFile) {
  open();
  ASSERT_TRUE(enqueue_sync(big(100)));
  store_.reset();
  CountingVfs::inject_fault({.reads = true, .code = SQLITE_IOERR_READ});
  auto r = Store::open(options_, clock_);
  CountingVfs::clear_fault();
  ASSERT_FALSE(r);
  expect_named(r.error(), Status::IoError, "I/O error: the storage device failed");
  EXPECT_NE(r.error().message.find(options_.path), std::string::npos) << r.error().message;
}

TEST_F(StoreFailureTest, IoErrorAtRunTimeRefusesWithIoErrorAndRecoversWhenTheDeviceIsBack) {
  open();
  ASSERT_TRUE(enqueue_sync(big(100)));
  CountingVfs::inject_fault({.writes = true, .syncs = true, .code = SQLITE_IOERR_WRITE});
  auto refused = enqueue_sync(big(100));
  CountingVfs::clear_fault();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), Status::IoError);
  EXPECT_EQ(store_->stats().last_error, Status::IoError);
  EXPECT_STREQ(failure_advice(Status::IoError),
               "I/O error: the storage device failed a read, write or sync (a failing SD card or disk: see "
               "dmesg); the database is probably intact, do not delete or recover it before the device is "
               "checked");
  auto again = enqueue_sync(big(100));
  ASSERT_TRUE(again) << to_string(again.error());
  EXPECT_FALSE(store_->stats().degraded);
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// Locked: another connection holds the write lock (BEGIN EXCLUSIVE), as a sqlite3 shell would.
TEST_F(StoreFailureTest, LockedDatabaseAtOpenIsNamedLocked) {
  open();
  store_.reset();
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(options_.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto r = Store::open(options_, clock_);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_FALSE(r);
  expect_named(r.error(), Status::Busy, "locked: another process holds a lock on the database");
}

TEST_F(StoreFailureTest, GarbageFileIsNamedDamagedWithTheRecoveryCommand) {
  {
    std::ofstream f(options_.path, std::ios::binary);
    std::string garbage(8192, '\x5a');
    f << garbage;
  }
  auto r = Store::open(options_, clock_);
  ASSERT_FALSE(r);
  expect_named(r.error(), Status::Corrupt, "is damaged");
  EXPECT_NE(r.error().message.find(recovery_command(options_.path)), std::string::npos) << r.error().message;
}

TEST(StorageStatus, EachFailureHasItsOwnAdvice) {
  const Status kinds[] = {Status::DiskFull, Status::ReadOnly, Status::IoError, Status::Busy, Status::Corrupt};
  std::set<std::string> seen;
  for (Status s : kinds) seen.insert(failure_advice(s));
  EXPECT_EQ(seen.size(), std::size(kinds));
  for (Status s : {Status::DiskFull, Status::ReadOnly, Status::IoError, Status::Busy}) {
    EXPECT_EQ(std::string(failure_advice(s)).find("recovery command"), std::string::npos) << to_string(s);
  }
  EXPECT_NE(std::string(failure_advice(Status::Corrupt)).find("recovery command"), std::string::npos);
}

// The disk bound's arithmetic (storage/README.md "Space: the disk bound").
TEST(StorageSpace, SharesFollowTheSmallerOfBoundAndFileSystem) {
  // 2 MiB file system, 1 GiB bound: the file system decides; 1/16 of it.
  SpaceShares s = plan_shares(1ull << 30, 2ull << 20, 4096, 1000);
  EXPECT_EQ(s.wal_share, 128u * 1024);
  EXPECT_EQ(s.reserve, 128u * 1024);
  // Never below 64 KiB.
  EXPECT_EQ(plan_shares(1ull << 20, 0, 4096, 1000).wal_share, 64u * 1024);
  // A large disk: the share stops at 4 x checkpoint_pages pages, the reserve at checkpoint_pages.
  s = plan_shares(1ull << 30, 1ull << 40, 4096, 1000);
  EXPECT_EQ(s.wal_share, 4u * 1000 * 4096);
  EXPECT_EQ(s.reserve, 1000u * 4096);
}

TEST(StorageSpace, PageCapKeepsRoomForReserveWalAndShm) {
  const SpaceShares s{128 * 1024, 128 * 1024};
  // 2 MiB bound, plenty of file system: (2048 - 128 - 256 - 32) KiB / 4 KiB = 408 pages.
  EXPECT_EQ(plan_max_pages(2ull << 20, 1ull << 40, SpaceUse{}, s, 4096), 408u);
  // The file system offers less than the bound: what the files take + what is free decides, and the
  // reserve counts whether present or released.
  SpaceUse use{.db = 1ull << 20, .wal = 0, .shm = 32 * 1024, .reserve = 128 * 1024};
  const std::uint64_t with_file = plan_max_pages(1ull << 30, 512 * 1024, use, s, 4096);
  use.reserve = 0;
  EXPECT_EQ(plan_max_pages(1ull << 30, 512 * 1024 + 128 * 1024, use, s, 4096), with_file);
  // Nothing left: a cap of one page (below any real file), so every growth is refused.
  EXPECT_EQ(plan_max_pages(256 * 1024, 0, SpaceUse{}, s, 4096), 1u);
}

// A drain on a full file system: acks spread over the whole outbox rewrite more pages together than the
// room the disk bound keeps for the WAL, so their batch fails at COMMIT although each ack fits. Retried
// whole it failed forever (the drain stalled: test_disk_full.py's 2 MiB case); it is committed in parts.
TEST_F(StoreFailureTest, ABatchOfAcksTooLargeForTheWalsRoomIsCommittedInParts) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  const std::vector<std::uint64_t> rows = open_and_fill_to_disk_full(1000);
  ASSERT_FALSE(HasFailure());
  // Everything in flight, a read at a time (each read is cut to fit the WAL's room).
  ASSERT_NO_FATAL_FAILURE(read_all_in_flight(rows.size()));
  // One ack per row, fire and forget (as the uplink sends them), then one someone waits on: one batch
  // that touches every leaf page of the table (4 rows a page) against a room of 2 x 64 KiB of WAL.
  const std::uint64_t splits_before = store_->stats().batches_split;
  std::vector<std::uint64_t> acked;
  for (std::size_t i = 0; i + 1 < rows.size(); i += 2) {
    ASSERT_EQ(store_->outbox_ack(to_ranges({rows[i]})), Status::Ok);
    acked.push_back(rows[i]);
  }
  std::optional<Status> last;
  ASSERT_EQ(store_->outbox_ack(to_ranges({rows.back()}), [&](Status s) { last = s; }), Status::Ok);
  acked.push_back(rows.back());
  store_->flush();
  store_->run_completions();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(*last, Status::Ok) << "the acks' batch failed for room as a whole";
  EXPECT_GT(store_->stats().batches_split, splits_before)
      << "the batch fitted: the test no longer covers the split";
  const std::set<std::uint64_t> in_file = ids_in_file();
  std::size_t left = 0;
  for (std::uint64_t id : acked) left += in_file.count(id);
  EXPECT_EQ(left, 0u) << "of " << acked.size() << " acknowledged rows";
  EXPECT_EQ(in_file.size(), rows.size() - acked.size());
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// One request alone larger than the room kept for the WAL: the uplink acknowledges a whole window at once
// (here every row of the full store, one id range). Each row's delete fits; all of them together rewrite
// more pages than the WAL may hold. It failed for room every time (the acks are retried whole until
// given up, the rows stay in flight and are sent again after a reconnect: duplicates upstream, and the
// space they hold is never freed). A set of independent row operations is committed in parts.
TEST_F(StoreFailureTest, ASingleAckTooLargeForTheWalsRoomIsCommittedInParts) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  const std::vector<std::uint64_t> rows = open_and_fill_to_disk_full(1000);
  ASSERT_FALSE(HasFailure());
  ASSERT_NO_FATAL_FAILURE(read_all_in_flight(rows.size()));
  const auto ranges = to_ranges(rows);
  ASSERT_EQ(ranges.size(), 1u) << "the test means one request of one range";
  const std::uint64_t splits_before = store_->stats().requests_split;
  std::optional<Status> acked;
  ASSERT_EQ(store_->outbox_ack(ranges, [&](Status s) { acked = s; }), Status::Ok);
  store_->flush();
  store_->run_completions();
  ASSERT_TRUE(acked.has_value());
  EXPECT_EQ(*acked, Status::Ok) << "the ack of " << rows.size() << " rows failed for room as a whole";
  EXPECT_GT(store_->stats().requests_split, splits_before)
      << "the ack fitted the WAL's room: the test no longer covers the split";
  EXPECT_TRUE(ids_in_file().empty()) << ids_in_file().size() << " acknowledged rows are still in the file";
  EXPECT_EQ(store_->stats().outbox_rows, 0u);
  EXPECT_EQ(store_->stats().outbox_acked, rows.size());
  // The space is free again: new rows are taken.
  EXPECT_TRUE(enqueue_sync(big(1000)));
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// The QoS 2 uplink marks a window released (PUBREC came) with one request and sends PUBREL only from its
// completion: a window too large for the WAL's room failed at every try, so the QoS 2 drain stalled.
TEST_F(StoreFailureTest, ASingleReleaseTooLargeForTheWalsRoomIsCommittedInParts) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  const std::vector<std::uint64_t> rows = open_and_fill_to_disk_full(1000);
  ASSERT_FALSE(HasFailure());
  std::optional<Status> released;
  ASSERT_EQ(store_->outbox_release(rows, [&](Status s) { released = s; }), Status::Ok);
  store_->flush();
  store_->run_completions();
  ASSERT_TRUE(released.has_value());
  EXPECT_EQ(*released, Status::Ok) << "the release of " << rows.size() << " rows failed for room as a whole";
  EXPECT_EQ(query_text(options_.path, "SELECT count(*) FROM outbox WHERE released = 1"),
            std::to_string(rows.size()));
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// A read deletes the expired rows it meets (MQTT 5.0 §3.3.2.3.3). After an outage on a full disk, every
// row had expired: a read with nothing to return deleted them all in its own transaction, which failed
// for room at every try, so the drain stalled for good with the disk full of expired rows. A read
// deletes at most what fits the WAL's room and the next read goes on.
TEST_F(StoreFailureTest, AReadMeetingMoreExpiredRowsThanTheWalsRoomGoesOnAndFreesThem) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  open();
  std::vector<std::uint64_t> rows;
  for (int i = 0; i < 2000; ++i) {
    OutboxMessage m = big(1000);
    m.expiry_unix = clock_.unix_seconds() + 60;
    auto r = enqueue_sync(m);
    if (!r) {
      ASSERT_EQ(r.error(), Status::DiskFull) << to_string(r.error());
      break;
    }
    rows.push_back(r.value().id);
  }
  ASSERT_GT(rows.size(), 200u);
  OutboxMessage fresh = big(10);
  clock_.advance(120'000);  // every row has expired
  // As the uplink does: read until a read comes back empty and the listener did not wake it again.
  bool woken = false;
  store_->set_outbox_listener([&](std::uint64_t, const std::vector<std::string>& dests) {
    woken = woken || std::find(dests.begin(), dests.end(), std::string()) != dests.end();
  });
  std::size_t reads = 0;
  std::size_t returned = 0;
  std::optional<Result<std::vector<OutboxRecord>, Status>> last;
  for (; reads < 100; ++reads) {
    woken = false;
    last = read_sync();
    if (!*last) continue;
    returned += last->value().size();
    if (last->value().empty() && !woken) break;
  }
  ASSERT_TRUE(last.has_value());
  ASSERT_TRUE(*last) << "read at the bound: " << to_string(last->error()) << " (" << reads << " tries)";
  EXPECT_EQ(returned, 0u) << "an expired row was returned";
  EXPECT_TRUE(ids_in_file().empty()) << ids_in_file().size() << " expired rows are still in the file";
  EXPECT_EQ(store_->stats().outbox_rows, 0u);
  EXPECT_TRUE(enqueue_sync(fresh)) << "no room after the expired rows went";
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// The outbox's age bound after an outage on a full disk: every row is past max_age_s at once, and the prune
// deleting them all in one transaction failed for room at every maintenance run, so the space never came
// back. A prune deletes at most what fits the WAL's room, and the next one runs at once until none is left.
TEST_F(StoreFailureTest, AnAgePruneLargerThanTheWalsRoomGoesOnInPartsUntilTheRowsAreGone) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  options_.outbox.max_age_s = 60;
  const std::vector<std::uint64_t> rows = open_and_fill_to_disk_full(1000);
  ASSERT_FALSE(HasFailure());
  clock_.advance(120'000);  // every row is past the age bound
  std::optional<Status> pruned;
  ASSERT_EQ(store_->outbox_prune([&](Status s) { pruned = s; }), Status::Ok);
  store_->flush();
  store_->run_completions();
  ASSERT_TRUE(pruned.has_value());
  ASSERT_EQ(*pruned, Status::Ok) << "the age prune of " << rows.size() << " rows failed for room";
  EXPECT_GT(store_->stats().outbox_drops[static_cast<std::size_t>(DropReason::Expired)], 0u);
  // The rest goes with the prunes that follow on their own (the maintenance interval is an hour here).
  for (int i = 0; i < 3000 && store_->stats().outbox_rows > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(store_->stats().outbox_rows, 0u);
  EXPECT_EQ(store_->stats().outbox_drops[static_cast<std::size_t>(DropReason::Expired)], rows.size());
  EXPECT_TRUE(ids_in_file().empty());
  EXPECT_TRUE(enqueue_sync(big(1000))) << "no room after the old rows went";
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// A persistent session whose queue fills the disk is ended (a clean start, or its expiry): deleting the
// session with every queued message is one request larger than the WAL's room, and it failed at every try
// (the broker submits it without a completion: retried until given up, the space never freed, and the
// session back after a restart). Its messages go in parts, the session row and subscriptions with the last.
TEST_F(StoreFailureTest, DeletingASessionWhoseQueueFillsTheDiskIsCommittedInParts) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  open();
  const std::size_t queued = fill_session_queue(SessionMeta{.client_id = "farm"});
  ASSERT_GT(queued, 200u);
  const std::uint64_t splits_before = store_->stats().requests_split;
  EXPECT_EQ(wait_status([&](Store::Done d) { return store_->session_delete("farm", d); }), Status::Ok)
      << "deleting a session with " << queued << " queued messages failed for room";
  EXPECT_GT(store_->stats().requests_split, splits_before)
      << "the deletion fitted the WAL's room: the test no longer covers the split";
  EXPECT_EQ(query_text(options_.path, "SELECT count(*) FROM session_msgs"), "0");
  EXPECT_EQ(query_text(options_.path, "SELECT count(*) FROM session_subs"), "0");
  EXPECT_EQ(query_text(options_.path, "SELECT count(*) FROM sessions"), "0");
  EXPECT_TRUE(enqueue_sync(big(1000))) << "no room after the session went";
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// The same session expired while the daemon was stopped: the start deleted it in the transaction that
// loads the sessions, larger than the WAL's room, so the start failed ("cannot restore state") on the full
// disk. The expired sessions are deleted in parts before the load.
TEST_F(StoreFailureTest, AStartWithAnExpiredSessionFillingTheDiskDeletesItInPartsAndLoads) {
  const std::string skip = mount_small_tmpfs();
  if (!skip.empty()) GTEST_SKIP() << skip;
  open();
  const SessionMeta meta{
      .client_id = "farm", .expiry_interval_s = 60, .disconnected_unix = clock_.unix_seconds()};
  ASSERT_GT(fill_session_queue(meta), 200u);
  store_.reset();
  clock_.advance(120'000);  // past its expiry
  open();
  std::vector<std::string> expired;
  auto loaded = store_->load_sessions(0, &expired);
  ASSERT_TRUE(loaded) << "the start failed: " << to_string(loaded.error());
  EXPECT_TRUE(loaded.value().empty());
  EXPECT_EQ(expired, std::vector<std::string>{"farm"});
  EXPECT_EQ(query_text(options_.path, "SELECT count(*) FROM session_msgs"), "0");
  EXPECT_EQ(query_text(options_.path, "SELECT count(*) FROM sessions"), "0");
  store_.reset();
  EXPECT_EQ(query_text(options_.path, "PRAGMA integrity_check"), "ok");
}

// One write that cannot fit at all (a message larger than the room within the bound) is refused alone with
// DiskFull (PUBACK 0x97), the writes beside it commit, and a client retrying it does not fill the log: one
// ERROR line naming its size and the reason, not an ERROR and a "writes succeed again" per try.
TEST_F(StoreFailureTest, AWriteThatCannotFitIsRefusedAloneAndLoggedOnceNotPerRetry) {
  options_.max_db_bytes = 1024 * 1024;
  open();
  const std::string log_path = dir_ + "/log.txt";
  ASSERT_FALSE(log::configure({.output = log::Output::File, .file = log_path, .max_lines_per_second = 0}));
  const OutboxMessage huge = big(2 * 1024 * 1024);
  int refused = 0;
  std::vector<std::uint64_t> kept;
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::optional<Result<OutboxEnqueued, Status>> got;
    ASSERT_EQ(
        store_->outbox_enqueue(huge, [&](Result<OutboxEnqueued, Status> r) { got.emplace(std::move(r)); }),
        Status::Ok);
    ASSERT_EQ(store_->outbox_enqueue(big(100)), Status::Ok);  // in the same batch, no one waits on it
    store_->flush();
    store_->run_completions();
    ASSERT_TRUE(got.has_value());
    if (!*got && got->error() == Status::DiskFull) refused += 1;
    auto small = enqueue_sync(big(100));  // the client's other messages go on
    ASSERT_TRUE(small) << to_string(small.error());
    kept.push_back(small.value().id);
  }
  log::configure({});
  EXPECT_EQ(refused, 5) << "the message larger than the bound was not refused with DiskFull every time";
  EXPECT_EQ(store_->stats().outbox_rows, 10u) << "the writes beside the refused one were not all written";
  std::ifstream in(log_path);
  std::string line;
  int errors = 0;
  int recovered = 0;
  std::string first_error;
  while (std::getline(in, line)) {
    if (line.find("ERROR store") != std::string::npos) {
      errors += 1;
      if (first_error.empty()) first_error = line;
    }
    if (line.find("writes succeed again") != std::string::npos) recovered += 1;
  }
  EXPECT_EQ(errors, 1) << "ERROR lines for 5 tries of one write";
  EXPECT_LE(recovered, 1) << "'writes succeed again' lines for 5 tries of one write";
  EXPECT_NE(first_error.find("disk_full"), std::string::npos) << first_error;
  // Its size as the outbox counts it (origin + topic + payload).
  EXPECT_NE(first_error.find(std::to_string(huge.origin.size() + huge.topic.size() + huge.payload.size()) +
                             " bytes"),
            std::string::npos)
      << "the line does not say what was refused: " << first_error;
}

// The broker acknowledges a publish whose writes went without completions from a barrier: a write
// before it that failed and is kept for a retry must fail the barrier, even though the batch was run
// again without that write and committed.
TEST_F(StoreFailureTest, BarrierAfterAFailedWriteNoOneWaitsOnFailsToo) {
  fill_to_a_1_mib_bound();
  std::optional<Status> barrier;
  ASSERT_EQ(store_->outbox_enqueue(big(1000)), Status::Ok);  // no completion: kept and retried
  ASSERT_EQ(store_->barrier([&](Status s) { barrier = s; }), Status::Ok);
  store_->flush();
  store_->run_completions();
  ASSERT_TRUE(barrier.has_value());
  EXPECT_EQ(*barrier, Status::DiskFull) << "a barrier said Ok over a write that was not written";
}

}  // namespace
}  // namespace gw::storage
