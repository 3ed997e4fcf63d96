// Retained messages (MQTT 5.0 §3.3.1.3): one row per topic, replaced by each retained PUBLISH and
// removed by one with an empty payload. Loaded whole at startup into the broker's retained tree. Runs on
// the storage thread inside the store's transaction.
#pragma once

#include <string>
#include <vector>

#include "storage/records.hpp"
#include "storage/sqlite_db.hpp"
#include "storage/status.hpp"

namespace gw::storage {

class RetainedTable {
 public:
  Status prepare(Db& db);
  Status set(const RetainedMessage& m);  // an empty payload clears the topic
  Status clear(const std::string& topic);
  Status load(std::vector<RetainedMessage>& out);  // in topic order

 private:
  Stmt put_, del_, load_;
};

}  // namespace gw::storage
