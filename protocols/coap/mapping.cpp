// The CoAP URI mapping (see mapping.hpp and gateway/coap/README.md "URI mapping").
#include "protocols/coap/mapping.hpp"

#include "protocols/mqtt/topic.hpp"

namespace gw::coap {

namespace {

Action error(int code, std::string message) {
  Action a;
  a.kind = Kind::Error;
  a.code = code;
  a.message = std::move(message);
  return a;
}

// "?qos=" in 0..2, or the default; nullopt for anything else.
std::optional<std::uint8_t> qos_param(const http::Params& p, std::uint8_t dflt) {
  const std::string* q = http::find_param(p, "qos");
  if (q == nullptr) return dflt;
  if (q->size() != 1 || (*q)[0] < '0' || (*q)[0] > '2') return std::nullopt;
  return static_cast<std::uint8_t>((*q)[0] - '0');
}

// "retain", "retain=1", "retain=true" are on; absent, "retain=0" and "retain=false" off.
std::optional<bool> flag_param(const http::Params& p, std::string_view name) {
  const std::string* v = http::find_param(p, name);
  if (v == nullptr) return false;
  if (v->empty() || *v == "1" || *v == "true") return true;
  if (*v == "0" || *v == "false") return false;
  return std::nullopt;
}

std::string param(const http::Params& p, std::string_view name) {
  const std::string* v = http::find_param(p, name);
  return v ? *v : std::string();
}

Action pubsub(const Request& r, const Options& o, const http::Params& params) {
  if (r.path.size() < 2) return error(404, "expected ps/<topic>");
  std::string topic = join_topic(r.path, 1);
  if (topic.size() > o.max_topic_bytes) return error(400, "topic too long");
  Action a;
  a.topic = std::move(topic);
  switch (r.method) {
    case Method::Post:
    case Method::Put: {
      if (r.observe) return error(402, "Observe is for GET");
      auto qos = qos_param(params, r.confirmable ? o.con_qos : o.non_qos);
      if (!qos) return error(400, "qos must be 0, 1 or 2");
      auto retain = flag_param(params, "retain");
      if (!retain) return error(400, "retain must be 0, 1, true or false");
      if (!mqtt::is_valid_topic_name(a.topic)) return error(400, "not a topic name: " + a.topic);
      a.kind = Kind::Publish;
      a.qos = *qos;
      a.retain = *retain;
      return a;
    }
    case Method::Get: {
      if (!r.observe) {
        if (!mqtt::is_valid_topic_name(a.topic)) return error(400, "not a topic name: " + a.topic);
        a.kind = Kind::Read;
        return a;
      }
      if (*r.observe > 1) return error(402, "Observe must be 0 (register) or 1 (deregister)");
      if (!mqtt::is_valid_filter(a.topic) || mqtt::parse_shared(a.topic))
        return error(400, "not a topic filter: " + a.topic);
      auto qos = qos_param(params, 0);
      if (!qos) return error(400, "qos must be 0, 1 or 2");
      a.kind = *r.observe == 0 ? Kind::Observe : Kind::Unobserve;
      a.qos = *qos;
      return a;
    }
    default:
      return error(405, "ps/<topic> takes GET, POST and PUT");
  }
}

Action connection(const Request& r, const http::Params& params) {
  if (r.path.size() != 2 || r.path[1] != "connection") return error(404, "expected mqtt/connection");
  Action a;
  a.clientid = param(params, "clientid");
  if (a.clientid.empty() || a.clientid.size() > 256) return error(400, "clientid of 1 to 256 bytes required");
  switch (r.method) {
    case Method::Post:
      a.kind = Kind::Connect;
      a.username = param(params, "username");
      if (const std::string* pw = http::find_param(params, "password")) {
        a.password = *pw;
        a.has_password = true;
      }
      return a;
    case Method::Put:
    case Method::Delete:
      a.kind = r.method == Method::Put ? Kind::Heartbeat : Kind::Disconnect;
      a.token = param(params, "token");
      if (a.token.empty()) return error(401, "token required");
      return a;
    default:
      return error(405, "mqtt/connection takes POST, PUT and DELETE");
  }
}

// NETPIE NB-IoT (docs/netpie-protocol.md §9.3): the REST API's paths over CoAP, answered by the REST
// handler itself so that the key's rights apply exactly as for REST: topic/<appid>/<topic>,
// microgear/<appid>/<alias>, and feed/<feedid>?apikey= (payload data=<field>:<number>,...; a GET reads
// the feed as GET /feed does).
Action netpie(const Request& r, const http::Params& params) {
  const std::string& resource = r.path[0];
  if (resource == "feed" && r.path.size() != 2) return error(404, "expected feed/<feedid>");
  if (resource != "feed" && r.path.size() < 3)
    return error(404, "expected " + resource + "/<appid>/<" + (resource == "topic" ? "topic>" : "alias>"));
  Action a;
  a.kind = Kind::Netpie;
  if (r.observe) return error(402, "NETPIE paths cannot be observed; use ps/<topic>");
  if (r.method == Method::Put || r.method == Method::Post) {
    a.http_method = "PUT";
  } else if (r.method == Method::Get && (resource == "topic" || resource == "feed")) {
    a.http_method = "GET";
  } else {
    return error(405,
                 resource == "microgear" ? "microgear/... takes PUT" : resource + "/... takes GET and PUT");
  }
  a.http_path = "/" + resource;
  for (std::size_t i = 1; i < r.path.size(); ++i) {
    a.http_path += '/';
    // Percent-encoded again: the REST handler decodes its path segments.
    http::percent_encode_to(http::percent_decode(r.path[i], http::PlusMeans::Plus), a.http_path);
  }
  a.params = params;
  return a;
}

}  // namespace

http::Params query_params(const std::vector<std::string>& query) {
  http::Params out;
  for (const std::string& q : query) {
    const auto eq = q.find('=');
    http::Param p;
    p.name = http::percent_decode(std::string_view(q).substr(0, eq), http::PlusMeans::Plus);
    if (eq != std::string::npos)
      p.value = http::percent_decode(std::string_view(q).substr(eq + 1), http::PlusMeans::Plus);
    out.push_back(std::move(p));
  }
  return out;
}

std::string join_topic(const std::vector<std::string>& path, std::size_t from) {
  std::string t;
  for (std::size_t i = from; i < path.size(); ++i) {
    if (i > from) t += '/';
    t += http::percent_decode(path[i], http::PlusMeans::Plus);
  }
  return t;
}

std::string well_known_core(const Options& o) {
  std::string s;
  auto add = [&s](std::string_view link) {
    if (!s.empty()) s += ',';
    s += link;
  };
  if (o.pubsub) {
    add("</ps>;rt=\"core.ps\";ct=0;obs");
    add("</mqtt/connection>;rt=\"mqtt.connection\"");
  }
  if (o.netpie) {
    add("</topic>;rt=\"netpie.topic\"");
    add("</microgear>;rt=\"netpie.microgear\"");
    add("</feed>;rt=\"netpie.feed\"");
  }
  return s;
}

Action map_request(const Request& r, const Options& o) {
  if (r.path.empty()) return error(404, "no path; see /.well-known/core");
  if (r.path.size() == 2 && r.path[0] == ".well-known" && r.path[1] == "core") {
    if (r.method != Method::Get) return error(405, "GET only");
    Action a;
    a.kind = Kind::WellKnown;
    return a;
  }
  const http::Params params = query_params(r.query);
  const std::string& first = r.path[0];
  if (o.pubsub && first == "ps") return pubsub(r, o, params);
  if (o.pubsub && first == "mqtt") return connection(r, params);
  if (o.netpie && (first == "topic" || first == "microgear" || first == "feed")) return netpie(r, params);
  return error(404, "unknown path; see /.well-known/core");
}

}  // namespace gw::coap
