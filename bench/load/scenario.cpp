// Loading scenarios from YAML (yaml-cpp) and from key=value overrides; both go through one setter, so a
// key means the same thing in a file and on the command line. Errors name the file and the key.
#include "bench/load/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <exception>

namespace gw::bench {

namespace {

Result<bool, std::string> set_key(Scenario& s, const std::string& key, const std::string& v) {
  try {
    if (key == "name") {
      s.name = v;
    } else if (key == "description") {
      s.description = v;
    } else if (key == "kind") {
      if (v != "flow" && v != "idle" && v != "drain")
        return unexpected(std::string("kind: flow, idle or drain"));
      s.kind = v == "idle"    ? Scenario::Kind::Idle
               : v == "drain" ? Scenario::Kind::Drain
                              : Scenario::Kind::Flow;
    } else if (key == "publishers") {
      s.publishers = static_cast<std::uint32_t>(std::stoul(v));
    } else if (key == "subscribers") {
      s.subscribers = static_cast<std::uint32_t>(std::stoul(v));
    } else if (key == "pub_topic") {
      s.pub_topic = v;
    } else if (key == "sub_filter") {
      s.sub_filter = v;
    } else if (key == "qos" || key == "sub_qos") {
      auto q = std::stoul(v);
      if (q > 2) return unexpected(key + ": 0, 1 or 2");
      (key == "qos" ? s.qos : s.sub_qos) = static_cast<std::uint8_t>(q);
    } else if (key == "payload") {
      s.payload = static_cast<std::uint32_t>(std::stoul(v));
      if (s.payload < 24) return unexpected(std::string("payload: at least 24 bytes (the timestamp header)"));
    } else if (key == "rate") {
      s.rate = std::stod(v);
    } else if (key == "window") {
      s.window = static_cast<std::uint32_t>(std::stoul(v));
    } else if (key == "ack_window") {
      s.ack_window = static_cast<std::uint32_t>(std::stoul(v));
    } else if (key == "max_queued") {
      s.max_queued = static_cast<std::uint32_t>(std::stoul(v));
      if (s.max_queued < 1) return unexpected(std::string("max_queued: at least 1"));
    } else if (key == "edge_limits") {
      s.edge_limits = v;
    } else if (key == "duration") {
      s.duration_s = std::stod(v);
    } else if (key == "warmup") {
      s.warmup_s = std::stod(v);
    } else if (key == "drain") {
      s.drain_s = std::stod(v);
    } else if (key == "quiet") {
      s.quiet_s = std::stod(v);
    } else if (key == "settle") {
      s.settle_s = std::stod(v);
    } else if (key == "connections") {
      s.connections = static_cast<std::uint32_t>(std::stoul(v));
    } else if (key == "mqtt") {
      if (v == "3.1") {
        s.version = mqtt::Version::V31;
      } else if (v == "3.1.1") {
        s.version = mqtt::Version::V311;
      } else if (v == "5") {
        s.version = mqtt::Version::V5;
      } else {
        return unexpected(std::string("mqtt: 3.1, 3.1.1 or 5"));
      }
    } else if (key == "target") {
      if (v != "throughput_2x" && v != "throughput_2x_lossless" && v != "p99_under_1ms" &&
          v != "memory_per_connection" && v != "acked_delivered_2x" && v != "loss_1pct_2x") {
        return unexpected("target: unknown '" + v + "'");
      }
      s.target = v;
    } else if (key == "edge_config") {
      s.edge_config = v;
    } else if (key == "max_inflight") {
      auto n = std::stoul(v);
      if (n < 1 || n > 65535) return unexpected(std::string("max_inflight: 1 to 65535"));
      s.max_inflight = static_cast<std::uint16_t>(n);
    } else if (key == "messages") {
      s.messages = std::stoull(v);
      if (s.messages == 0) return unexpected(std::string("messages: at least 1"));
    } else if (key == "uplink_inflight") {
      for (std::size_t at = 0; at <= v.size();) {
        auto comma = std::min(v.find(',', at), v.size());
        auto n = std::stoul(v.substr(at, comma - at));
        if (n < 1 || n > 65535) return unexpected(std::string("uplink_inflight: values 1 to 65535"));
        at = comma + 1;
      }
      s.uplink_inflight = v;
    } else if (key == "websocket") {
      s.websocket = v == "true" || v == "1" || v == "yes";
    } else if (key == "tls") {
      s.tls = v == "true" || v == "1" || v == "yes";
    } else if (key == "mosquitto_nodelay") {
      s.mosquitto_nodelay = v == "true" || v == "1" || v == "yes";
    } else {
      return unexpected("unknown key '" + key + "'");
    }
  } catch (const std::exception&) {
    return unexpected(key + ": bad value '" + v + "'");
  }
  return true;
}

}  // namespace

std::string expand(const std::string& pattern, const char* var, std::uint32_t n) {
  std::string out = pattern;
  const std::string token = std::string("{") + var + "}";
  for (auto pos = out.find(token); pos != std::string::npos; pos = out.find(token, pos)) {
    out.replace(pos, token.size(), std::to_string(n));
  }
  return out;
}

Result<bool, std::string> apply_override(Scenario& s, const std::string& key_value) {
  auto eq = key_value.find('=');
  if (eq == std::string::npos) return unexpected("override '" + key_value + "': expected key=value");
  return set_key(s, key_value.substr(0, eq), key_value.substr(eq + 1));
}

Result<Scenario, std::string> load_scenario(const std::string& path) {
  Scenario s;
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (!root.IsMap()) return unexpected(path + ": expected a mapping");
    for (const auto& kv : root) {
      auto key = kv.first.as<std::string>();
      auto r = set_key(s, key, kv.second.as<std::string>());
      if (!r) return unexpected(path + ":" + std::to_string(kv.first.Mark().line + 1) + ": " + r.error());
    }
  } catch (const YAML::Exception& e) {
    return unexpected(path + ": " + e.what());
  }
  if (s.name.empty()) return unexpected(path + ": name is required");
  return s;
}

}  // namespace gw::bench
