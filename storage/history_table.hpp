// Local history: a copy of messages on chosen topics (the history filters), kept for queries by topic
// and by sequence or time range, and trimmed by age and row count. seq (AUTOINCREMENT, never reused) is
// the order; stored_unix is the wall clock at recording, for range queries and display only. Runs on
// the storage thread inside the store's transaction.
#pragma once

#include <cstdint>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "storage/records.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

class HistoryTable {
 public:
  HistoryTable(const HistoryOptions& options, const Clock& clock) : options_(options), clock_(clock) {}

  Status prepare(Db& db);
  Status load();  // row count
  void begin() { saved_rows_ = rows_; }
  void rolled_back() { rows_ = saved_rows_; }
  std::uint64_t mark() const { return rows_; }
  void rollback_to(std::uint64_t rows) { rows_ = rows; }

  // Whether a topic matches one of the history filters (pure; safe on any thread).
  bool wants(std::string_view topic) const;
  Result<std::uint64_t, Status> append(const HistoryMessage& m);  // returns seq
  Status query(const HistoryQuery& q, std::vector<HistoryRecord>& out);
  // Reads at most max_scan rows after q.from_seq (by seq; an exact topic through its index) and keeps
  // those matching the filter and time range, at most q.limit (Store::history_page).
  Status page(const HistoryQuery& q, std::uint64_t max_scan, HistoryPage& out);
  // Applies max_age_s (walking in seq order, stopping at the first row young enough) then max_rows.
  Status prune(std::uint64_t* removed = nullptr);

  std::uint64_t rows() const { return rows_; }
  std::uint64_t pruned_total() const { return pruned_; }

 private:
  HistoryOptions options_;
  const Clock& clock_;
  Db* db_ = nullptr;
  std::uint64_t rows_ = 0;
  std::uint64_t saved_rows_ = 0;
  std::uint64_t pruned_ = 0;
  Stmt insert_, by_topic_, by_range_, scan_, delete_upto_, trim_rows_, page_topic_, page_all_;
};

}  // namespace gw::storage
