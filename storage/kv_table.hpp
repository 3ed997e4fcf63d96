// A small key/value table for state that must survive a restart: NETPIE tokens (device key, access
// token, endpoint) and similar. Values are opaque blobs. Runs on the storage thread inside the store's
// transaction.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/base/clock.hpp"
#include "gateway/base/result.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

class KvTable {
 public:
  explicit KvTable(const Clock& clock) : clock_(clock) {}
  Status prepare(Db& db);
  Status put(const std::string& key, const std::string& value);
  Status erase(const std::string& key);
  Result<std::optional<std::string>, Status> get(const std::string& key);
  // Keys starting with prefix, in key order.
  Status scan(const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out);

 private:
  const Clock& clock_;
  Stmt put_, del_, get_, scan_;
};

}  // namespace gw::storage
