// Persistence::outbox_admit against a real store: under reject_new the broker refuses a client's QoS 1/2
// message before routing it when its outbox rows would pass store.outbox.max_rows/max_bytes. It counts only
// the rows that would be written: a row an uplink's quota refuses (reject_new) adds nothing, one its
// drop_oldest makes room for adds no row (storage/README.md "Quotas per destination").
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "gateway/base/clock.hpp"
#include "gateway/broker/persistence.hpp"
#include "storage/store.hpp"

namespace gw::broker {
namespace {

using namespace std::chrono_literals;

class PersistenceAdmit : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gw-persistence-XXXXXX";
    const char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
  }
  void TearDown() override {
    persistence_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // Global bound: 3 rows, reject_new. Every message on t/# gets a row for "up" and one for "absent";
  // "absent" has a quota of 1 row with `absent_policy`.
  void open(storage::FullPolicy absent_policy) {
    storage::StoreOptions o;
    o.path = dir_ + "/store.db";
    o.maintenance_interval = std::chrono::hours(1);
    o.outbox.max_rows = 3;
    o.outbox.policy = storage::FullPolicy::RejectNew;
    storage::OutboxQuota q;
    q.max_rows = 1;
    q.policy = absent_policy;
    o.outbox.quotas["absent"] = q;
    auto r = storage::Store::open(o, clock_);
    ASSERT_TRUE(r) << r.error().message;
    store_ = std::move(r.value());
    persistence_ = std::make_unique<Persistence>(
        *store_, clock_, std::vector<OutboxRoute>{{"t/#", "up", 1}, {"t/#", "absent", 1}});
  }
  Message message() const {
    Message m;
    m.topic = "t/x";
    m.payload = "p";
    m.qos = 1;
    m.sender = std::make_shared<const std::string>("dev");
    return m;
  }
  // Enqueues one message (a row per route) and waits until its rows are committed or refused.
  void enqueue_and_wait() {
    bool done = false;
    persistence_->outbox_enqueue(message(), [&](mqtt::Reason) { done = true; });
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!done && std::chrono::steady_clock::now() < until) {
      store_->wait_completions(10ms);
      store_->run_completions();
    }
    ASSERT_TRUE(done);
  }

  std::string dir_;
  ManualClock clock_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<Persistence> persistence_;
};

TEST_F(PersistenceAdmit, ARowTheUplinksQuotaRefusesIsNotCountedAgainstTheGlobalBound) {
  open(storage::FullPolicy::RejectNew);
  EXPECT_EQ(persistence_->outbox_admit(message()), mqtt::Reason::Success);
  enqueue_and_wait();  // up 1, absent 1 (its quota is full now)
  ASSERT_EQ(store_->stats().outbox_rows, 2u);
  // Only "up" takes the next one: 3 rows of 3. Counting the refused row too said 4 > 3.
  EXPECT_EQ(persistence_->outbox_admit(message()), mqtt::Reason::Success);
  enqueue_and_wait();
  EXPECT_EQ(store_->stats().outbox_rows, 3u);
  EXPECT_EQ(store_->outbox_dest_drops("absent").rejected, 1u);
  EXPECT_EQ(persistence_->outbox_admit(message()), mqtt::Reason::QuotaExceeded);  // "up" would make 4
}

TEST_F(PersistenceAdmit, ARowTheUplinksDropOldestMakesRoomForAddsNoRow) {
  open(storage::FullPolicy::DropOldest);
  enqueue_and_wait();
  ASSERT_EQ(store_->stats().outbox_rows, 2u);
  EXPECT_EQ(persistence_->outbox_admit(message()), mqtt::Reason::Success);
  enqueue_and_wait();  // absent's new row replaces its old one
  EXPECT_EQ(store_->stats().outbox_rows, 3u);
  EXPECT_EQ(store_->outbox_dest_drops("absent").dropped_oldest, 1u);
}

TEST_F(PersistenceAdmit, EnqueuesNotCommittedYetCountAsMuchAsTheyAdd) {
  open(storage::FullPolicy::RejectNew);
  enqueue_and_wait();                                            // 2 rows committed, absent's quota full
  persistence_->outbox_enqueue(message(), [](mqtt::Reason) {});  // pending: up only (1 row)
  EXPECT_EQ(persistence_->outbox_admit(message()), mqtt::Reason::QuotaExceeded);  // 2 + 1 + 1 > 3
  store_->flush();
  store_->run_completions();
  EXPECT_EQ(store_->stats().outbox_rows, 3u);
}

}  // namespace
}  // namespace gw::broker
