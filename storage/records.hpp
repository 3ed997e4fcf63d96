// The plain values the store reads and writes: outbox messages, persistent sessions, retained messages,
// history entries, and the options that bound them. No broker types: the broker converts to and from
// these. Payloads and MQTT v5 properties are opaque byte strings here.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gw::storage {

// ---- Outbox: messages bound for the cloud -----------------------------------------------------------

// What happens when an enqueue would pass the outbox bound (rows or bytes).
enum class FullPolicy : std::uint8_t {
  RejectNew,   // `reject_new`: the new message is refused with Status::QuotaExceeded
  DropOldest,  // `drop_oldest`: the oldest queued message of the lowest-priority lane is dropped
};
std::optional<FullPolicy> parse_full_policy(std::string_view name);  // "reject_new" | "drop_oldest"
std::string_view to_string(FullPolicy p);

// Why a message left the outbox without being acknowledged by the cloud. Every drop is counted.
enum class DropReason : std::uint8_t {
  RejectedFull = 0,  // reject_new refused a new message (rows or bytes bound)
  OldestRows,        // drop_oldest dropped a queued message to stay within max_rows
  OldestBytes,       // drop_oldest dropped a queued message to stay within max_bytes
  Expired,           // older than max_age_s, removed by the prune
  // Per-destination quotas (OutboxQuota; storage/README.md "Quotas per destination"):
  QuotaOldest,     // a destination's drop_oldest dropped its own oldest queued row to stay in its quota
  QuotaAge,        // older than the destination's max_age_s, removed by the prune
  QuotaRejected,   // a destination's reject_new: the row for it was not written (the message was not refused)
  MessageExpired,  // its MQTT 5 message expiry passed (MQTT 5.0 §3.3.2.3.3): deleted when read, never sent
};
inline constexpr std::size_t kDropReasonCount = 8;
std::string_view to_string(DropReason r);
using DropCounters = std::array<std::uint64_t, kDropReasonCount>;

// One destination's share of the outbox (an uplink's `outbox:` keys), inside the global bound. 0 = no
// bound of that kind. Why: an uplink whose cloud stays away must not fill the shared bound and so starve
// the others; its own policy applies to its own rows only.
//   reject_new   a new row for this destination is not written (counted QuotaRejected); the message is
//                not refused for that: the other destinations still take it, and the publisher's
//                acknowledgement does not change (the global bound alone pushes back on publishers);
//   drop_oldest  its own oldest queued row of its lowest-priority lane goes (QuotaOldest).
// A row the cloud already holds (released, QoS 2) is never dropped by either.
struct OutboxQuota {
  std::uint64_t max_rows = 0;
  std::uint64_t max_bytes = 0;
  std::int64_t max_age_s = 0;
  FullPolicy policy = FullPolicy::DropOldest;
  bool any() const { return max_rows > 0 || max_bytes > 0 || max_age_s > 0; }
};

struct OutboxLimits {
  std::uint64_t max_rows = 1'000'000;
  std::uint64_t max_bytes = 256ull * 1024 * 1024;  // sum of origin + topic + payload + properties
  std::int64_t max_age_s = 7ll * 24 * 3600;        // 0 = no age bound
  FullPolicy policy = FullPolicy::RejectNew;
  std::map<std::string, OutboxQuota, std::less<>> quotas;  // per destination (uplink name)
};

// What a destination's quota and message expiry removed (or refused) since the store opened.
struct OutboxDestDrops {
  std::uint64_t rejected = 0;         // QuotaRejected
  std::uint64_t dropped_oldest = 0;   // QuotaOldest
  std::uint64_t expired = 0;          // QuotaAge
  std::uint64_t message_expired = 0;  // MessageExpired
  friend bool operator==(const OutboxDestDrops&, const OutboxDestDrops&) = default;
};

// Destinations: every outbox row belongs to one uplink, named by `dest`. A name is 1-64 characters of
// A-Z a-z 0-9 _ - . ; the empty name is the destination of rows written before destinations existed
// (schema 2) and of callers that do not set one. The bounds and the full policy are global across
// destinations (the disk is shared); reads, requeue_all and the backlog counters are per destination.
inline constexpr std::size_t kMaxDestLength = 64;
// True for '' and for a valid uplink name; the store refuses anything else at submission.
bool valid_dest(std::string_view dest);

// A message handed to outbox_enqueue.
struct OutboxMessage {
  std::string origin;     // who published it (client id, "coap:<addr>", ...); order is kept per origin
  std::uint8_t lane = 1;  // priority lane: lane 0 is read first; order is kept within a lane
  std::string topic;
  std::string payload;     // opaque
  std::string properties;  // MQTT v5 properties as encoded on the wire; opaque
  std::uint8_t qos = 1;
  bool retain = false;
  std::string dest;  // the uplink this row is for ('' = none named; see valid_dest)
  // MQTT 5 message expiry as an absolute wall-clock time (0 = none): the row is deleted when read after
  // it (never sent), and the uplink forwards what is left of the interval (MQTT 5.0 §3.3.2.3.3).
  std::int64_t expiry_unix = 0;
};

// A row of the outbox as read back.
struct OutboxRecord {
  std::uint64_t id = 0;            // global sequence: ascending in enqueue order, never reused
  std::uint64_t origin_seq = 0;    // 1, 2, 3 ... per origin, never reused
  std::int64_t enqueued_unix = 0;  // wall clock seconds at enqueue; used for the age bound only
  std::uint32_t attempts = 0;      // how many times it was marked in flight
  bool inflight = false;
  // QoS 2 (MQTT 5.0 §4.3.3): the cloud answered PUBREC, so it owns the message; the uplink sends PUBREL
  // for this row, never the PUBLISH again. Set by Store::outbox_release; kept by requeue and restart.
  bool released = false;
  OutboxMessage msg;
};

// Assigned at enqueue and returned to its completion.
struct OutboxEnqueued {
  std::uint64_t id = 0;
  std::uint64_t origin_seq = 0;
  // false: the destination's quota (reject_new) refused the row; nothing was written, id is 0.
  bool queued = true;
};

// An inclusive range of outbox ids.
struct IdRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};
// Compresses ids (any order, duplicates allowed) into sorted, disjoint, maximal ranges.
std::vector<IdRange> to_ranges(std::vector<std::uint64_t> ids);

struct OutboxReadOptions {
  std::string dest;  // only this destination's rows ('' = the rows no uplink name was given for)
  std::uint32_t max_rows = 256;
  std::uint64_t max_bytes = 1024ull * 1024;  // the first row is returned even if it alone is larger
  std::optional<std::uint8_t> lane;          // only this lane; otherwise lanes in priority order
  bool mark_inflight = true;                 // mark the returned rows in flight in the same transaction
  // Live-first replay (gateway/uplink/README.md): only ids in (after_id, up_to_id], each lane walked on its
  // own range of outbox_ready; and rows of these origins are left queued (the uplink's per_origin order).
  std::uint64_t after_id = 0;
  std::uint64_t up_to_id = std::numeric_limits<std::int64_t>::max();  // SQLite integers are signed
  std::vector<std::string> skip_origins;
};

// A read with where it got to: `scanned_to` is the highest id up to which the read visited every queued row
// of its destination in its range, on every lane (returned, left queued by skip_origins, or expired); a
// reader that leaves rows queued (skip_origins) starts its next read there instead of walking them again.
// It is the read's after_id when the read cannot say (cut short below a lane with queued rows).
struct OutboxScan {
  std::vector<OutboxRecord> rows;
  std::uint64_t scanned_to = 0;
};

// Rows and bytes (as counted against max_bytes) still in the outbox for one destination: queued or in
// flight, everything not yet acknowledged, dropped or expired.
struct OutboxBacklog {
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
  friend bool operator==(const OutboxBacklog&, const OutboxBacklog&) = default;
};

// One destination with rows in the outbox (Store::outbox_dests).
struct OutboxDest {
  std::string dest;
  OutboxBacklog backlog;
};

// ---- Persistent MQTT sessions -----------------------------------------------------------------------

struct Subscription {
  std::string filter;
  std::uint8_t qos = 0;
  bool no_local = false;              // MQTT 5.0 §3.8.3.1
  bool retain_as_published = false;   // MQTT 5.0 §3.8.3.1
  std::uint8_t retain_handling = 0;   // MQTT 5.0 §3.8.3.1
  std::uint32_t subscription_id = 0;  // 0 = none
};

// Where a session message is in its QoS flow. The store keeps the value; the broker gives it meaning.
enum class MessageState : std::uint8_t {
  Queued = 0,        // outbound, not yet sent (no packet id yet, or one reserved)
  AwaitPuback = 1,   // outbound QoS 1 PUBLISH sent
  AwaitPubrec = 2,   // outbound QoS 2 PUBLISH sent
  AwaitPubcomp = 3,  // outbound QoS 2 PUBREL sent
  AwaitPubrel = 4,   // inbound QoS 2 PUBLISH received, PUBREC sent (MQTT 5.0 §4.3.3)
};

struct SessionMessage {
  std::uint64_t seq = 0;  // the broker's order key, unique within the session; loaded in seq order
  std::uint16_t packet_id = 0;
  MessageState state = MessageState::Queued;
  std::uint8_t qos = 1;
  bool retain = false;
  std::string topic;
  std::string payload;
  std::string properties;
  std::int64_t expiry_unix = 0;  // 0 = none (MQTT 5 message expiry, as an absolute wall-clock time)
};

struct SessionMeta {
  std::string client_id;
  std::uint32_t expiry_interval_s = 0;  // MQTT 5 session expiry interval (0xFFFFFFFF = never)
  std::int64_t disconnected_unix = 0;   // 0 = connected when last saved
  std::string extra;                    // broker-defined blob (will message, protocol level, ...)
};

// A persistent session's queue in the store (MessageState::Queued rows): rows, and bytes counted as
// topic + payload (the measure of store.session_queue.max_bytes).
struct SessionQueued {
  std::uint64_t rows = 0;
  std::uint64_t bytes = 0;
  friend bool operator==(const SessionQueued&, const SessionQueued&) = default;
};

struct SessionRecord {
  SessionMeta meta;
  std::vector<Subscription> subscriptions;  // sorted by filter
  // Sorted by seq: every row that is not Queued (in flight, inbound QoS 2), and the first queued rows
  // (as many as the load asked for; `queued` counts them all).
  std::vector<SessionMessage> messages;
  SessionQueued queued;        // every Queued row of the session, loaded or not
  std::uint64_t last_seq = 0;  // the highest seq of any of its rows (0 = none)
};

// ---- Retained messages ------------------------------------------------------------------------------

struct RetainedMessage {
  std::string topic;
  std::string payload;  // an empty payload clears the topic (MQTT 5.0 §3.3.1.3)
  std::string properties;
  std::uint8_t qos = 0;
  std::int64_t expiry_unix = 0;  // 0 = none
  std::int64_t updated_ms = 0;   // wall clock when set (unix ms; 0 = unknown: stored before schema 7)
};

// ---- Local history ----------------------------------------------------------------------------------

struct HistoryOptions {
  std::vector<std::string> filters;          // MQTT topic filters to record; empty = history off
  std::int64_t max_age_s = 7ll * 24 * 3600;  // 0 = no age bound
  std::uint64_t max_rows = 100'000;          // 0 = no row bound
  std::uint32_t max_page_rows = 1000;        // GET /history: rows one page may hold (larger limit: refused)
  std::uint64_t max_scan_rows = 100'000;     // GET /history: rows one page may read
};

struct HistoryMessage {
  std::string topic;
  std::string payload;
  std::string properties;
  std::uint8_t qos = 0;
};

struct HistoryRecord {
  std::uint64_t seq = 0;         // ascending in record order; the order to trust
  std::int64_t stored_unix = 0;  // wall clock seconds when recorded; for display and range queries
  HistoryMessage msg;
};

struct HistoryQuery {
  std::string topic;  // a topic name, or a filter with + and #; empty = every topic
  std::uint64_t from_seq = 0;
  std::uint64_t to_seq = std::numeric_limits<std::int64_t>::max();
  std::int64_t from_unix = std::numeric_limits<std::int64_t>::min();
  std::int64_t to_unix = std::numeric_limits<std::int64_t>::max();
  std::uint32_t limit = 1000;  // rows, ascending by seq
};

struct HistoryPage {
  std::vector<HistoryRecord> records;
  std::uint64_t last_seq = 0;  // the last seq read (matching or not): the next page reads after it
  bool more = false;           // the page stopped at its limit or its scan bound: there may be more
};

}  // namespace gw::storage
