// REST handlers (see rest.hpp). Response bodies are UNCONFIRMED upstream (docs/netpie-protocol.md §9.2, §13
// Q11): data comes as a JSON array (third-party code reads [0].payload and, for postboxes, msg/ts/tag), and
// everything else as {"code","message"}, which Node-RED can JSON-parse.
#include "gateway/netpie/rest.hpp"

#include <nlohmann/json.hpp>

#include "gateway/base/log.hpp"
#include "gateway/netpie/rights.hpp"
#include "protocols/http/basic_auth.hpp"
#include "protocols/http/url_encoding.hpp"
#include "protocols/microgear/crypto.hpp"
#include "protocols/mqtt/topic.hpp"

namespace gw::netpie {

namespace {

using nlohmann::json;

http::Response method_not_allowed(const char* allow) {
  http::Response r = rest_status(405, std::string("method not allowed; use ") + allow);
  r.headers.add("Allow", allow);
  return r;
}

std::string join_topic(const std::string& appid, const std::vector<std::string>& seg, std::size_t from) {
  std::string t = "/" + appid;
  for (std::size_t i = from; i < seg.size(); ++i) t += "/" + seg[i];
  return t;
}

}  // namespace

http::Response json_response(int status, const json& j) {
  http::Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

bool secret_matches(const std::string& expected, const std::string& given) {
  // Hashing both first makes the comparison independent of the lengths.
  return microgear::constant_time_equal(microgear::hmac_sha1_base64("rest", expected),
                                        microgear::hmac_sha1_base64("rest", given));
}

http::Response rest_status(int status, std::string_view message) {
  return json_response(status, json{{"code", status}, {"message", message}});
}

Rest::Rest(Registry& registry, Microgears& gears, Postboxes& postboxes)
    : registry_(registry), gears_(gears), postboxes_(postboxes) {}

bool Rest::handle(const http::Request& req, const net::HttpResponder& out) {
  const auto seg = http::path_segments(req.path);
  if (seg.empty() || (seg[0] != "topic" && seg[0] != "microgear" && seg[0] != "postbox")) return false;
  const std::string& resource = seg[0];
  const bool put = req.method == "PUT" || req.method == "POST";
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (resource == "microgear" ? !put : !(put || get)) {
    out.respond(method_not_allowed(resource == "microgear" ? "PUT" : "GET, PUT"));
    return true;
  }
  if (seg.size() < 3 || seg[1].empty() || seg[2].empty()) {
    out.respond(rest_status(400, "expected /" + resource + "/<appid>/<" +
                                     (resource == "topic"       ? "topic"
                                      : resource == "microgear" ? "alias"
                                                                : "box") +
                                     ">"));
    return true;
  }
  const std::string& appid = seg[1];
  // Credentials before anything else is revealed (docs/netpie-protocol.md §9.1).
  auto cred = http::request_credentials(req);
  const Key* key = cred ? registry_.key(cred->key) : nullptr;
  if (key == nullptr || !secret_matches(key->secret, cred->secret)) {
    GW_LOG(Info, "netpie", "REST %s %s from %s: %s", req.method.c_str(), req.path.c_str(),
           out.peer().address.c_str(), cred ? "wrong key or secret" : "no credentials");
    http::Response r = rest_status(
        401, cred ? "wrong key or secret" : "credentials required: Basic KEY:SECRET or ?auth=KEY:SECRET");
    r.headers.add("WWW-Authenticate", "Basic realm=\"netpie-edge\"");
    out.respond(std::move(r));
    return true;
  }
  if (key->appid != appid) {
    out.respond(rest_status(403, "the key does not belong to app " + appid));
    return true;
  }
  if (!key->enabled) {
    out.respond(rest_status(403, "the key is disabled"));
    return true;
  }

  if (resource == "topic") {
    for (std::size_t i = 2; i < seg.size(); ++i) {
      if (seg[i].empty() && i + 1 < seg.size()) {
        out.respond(rest_status(400, "empty topic level"));
        return true;
      }
    }
    std::string topic = join_topic(appid, seg, 2);
    if (put) {
      publish(*key, std::move(topic), req, out);
    } else {
      read_retained(*key, topic, out);
    }
    return true;
  }

  if (resource == "microgear") {
    const std::string& alias = seg[2];
    if (seg.size() != 3 || alias.size() > kMaxAliasBytes || alias.find_first_of("+#") != std::string::npos) {
      out.respond(rest_status(400, "expected /microgear/<appid>/<alias> with a valid alias"));
      return true;
    }
    publish(*key, "/" + appid + "/gearname/" + alias, req, out);
    return true;
  }

  // postbox
  const std::string& box = seg[2];
  if (seg.size() != 3 || !Postboxes::valid_name(box)) {
    out.respond(rest_status(400, "expected /postbox/<appid>/<box> with a valid box name"));
    return true;
  }
  const std::string* tag_param = http::find_param(req.query_params, "tag");
  const std::string tag = tag_param ? *tag_param : "";
  if (!Postboxes::valid_tag(tag)) {
    out.respond(rest_status(400, "invalid tag"));
    return true;
  }
  const std::string rights_topic = "/" + appid + "/@postbox/" + box;
  if (put) {
    if (!covered_topic(key->rights.publish, rights_topic)) {
      out.respond(rest_status(403, "the key may not write this postbox"));
      return true;
    }
    postboxes_.write(appid, box, req.body, tag, [out](std::optional<Postboxes::WriteError> err) {
      if (!err) {
        out.respond(rest_status(200, "Success"));
      } else {
        out.respond(rest_status(507, to_string(*err)));
      }
    });
    return true;
  }
  if (!covered_topic(key->rights.subscribe, rights_topic)) {
    out.respond(rest_status(403, "the key may not read this postbox"));
    return true;
  }
  json arr = json::array();
  if (auto m = postboxes_.read(appid, box, tag))
    arr.push_back(json{{"msg", m->msg}, {"ts", m->ts}, {"tag", m->tag}});
  out.respond(json_response(200, arr));
  return true;
}

void Rest::publish(const Key& key, std::string topic, const http::Request& req,
                   const net::HttpResponder& out) {
  const auto level = topic.find('/', 1);
  const char first = level + 1 < topic.size() ? topic[level + 1] : '\0';
  if (!mqtt::is_valid_topic_name(topic) || first == '@' || first == '&') {
    out.respond(rest_status(400, "not a topic one may publish to: " + topic));
    return;
  }
  if (!covered_topic(key.rights.publish, topic)) {
    out.respond(rest_status(403, "the key may not publish to " + topic));
    return;
  }
  if (broker_ == nullptr) {
    out.respond(rest_status(503, "broker not ready"));
    return;
  }
  auto m = std::make_shared<broker::Message>();
  m->topic = std::move(topic);
  m->payload = req.body;
  // QoS 1 unless the key is limited to 0: the answer then means "stored where it had to be".
  m->qos = std::min<std::uint8_t>(1, key.rights.max_qos);
  m->retain = http::find_param(req.query_params, "retain") != nullptr;
  m->sender = std::make_shared<const std::string>("rest:" + key.key);
  auto* persistence = broker_->persistence();
  auto ticket = std::make_shared<broker::Broker::PublishTicket>();
  if (persistence && m->qos > 0) broker_->set_current_ticket(ticket);
  gears_.route(m);
  broker_->set_current_ticket(nullptr);
  if (!persistence || m->qos == 0 || !persistence->dirty()) {
    out.respond(rest_status(200, "Success"));
    return;
  }
  persistence->barrier([out, ticket](mqtt::Reason r) {
    const mqtt::Reason result = r != mqtt::Reason::Success ? r : ticket->reason;
    if (result == mqtt::Reason::Success) {
      out.respond(rest_status(200, "Success"));
    } else {
      // A full outbox under reject_new, or a store failure, refuses the publisher (storage/README.md
      // "The outbox", "Failures").
      out.respond(rest_status(507, "not stored: the outbox or the store refused the message"));
    }
  });
}

void Rest::read_retained(const Key& key, const std::string& topic, const net::HttpResponder& out) {
  if (!mqtt::is_valid_filter(topic) || mqtt::parse_shared(topic)) {
    out.respond(rest_status(400, "not a valid topic: " + topic));
    return;
  }
  if (!filter_covers_any(key.rights.subscribe, topic)) {
    out.respond(rest_status(403, "the key may not read " + topic));
    return;
  }
  json arr = json::array();
  if (broker_ != nullptr) {
    // lastUpdated: unix ms when it was set (null for one stored before the gateway kept the time).
    broker_->retained().match_timed(topic, [&](const broker::MessagePtr& m, std::int64_t updated_ms) {
      arr.push_back(json{{"topic", m->topic},
                         {"payload", m->payload},
                         {"retain", true},
                         {"qos", m->qos},
                         {"lastUpdated", updated_ms > 0 ? json(updated_ms) : json(nullptr)}});
    });
  }
  out.respond(json_response(200, arr));
}

}  // namespace gw::netpie
