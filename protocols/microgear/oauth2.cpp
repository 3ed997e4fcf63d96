// OAuth2-style NETPIE token endpoints (see oauth2.hpp). JSON via nlohmann with exceptions disabled
// on the parse path: a malformed reply is a value, never a throw.
#include "protocols/microgear/oauth2.hpp"

#include <nlohmann/json.hpp>

namespace gw::microgear {
namespace {

using http::find_param;

std::string value_or_empty(const http::Params& ps, std::string_view name) {
  const std::string* v = find_param(ps, name);
  return v ? *v : std::string{};
}

// "mgrev:<x>" -> "<x>"; anything else -> "".
std::string after_prefix(std::string_view s, std::string_view prefix) {
  if (s.substr(0, prefix.size()) != prefix) return {};
  return std::string(s.substr(prefix.size()));
}

}  // namespace

const char* to_string(OAuth2Error e) {
  switch (e) {
    case OAuth2Error::UnsupportedResponseType:
      return "response_type is not code";
    case OAuth2Error::UnsupportedGrantType:
      return "grant_type is not authorization_code";
    case OAuth2Error::MissingParam:
      return "missing parameter";
    case OAuth2Error::MalformedReply:
      return "malformed token reply";
  }
  return "?";
}

const char* rfc6749_error(OAuth2Error e) {
  switch (e) {
    case OAuth2Error::UnsupportedResponseType:
      return "unsupported_response_type";
    case OAuth2Error::UnsupportedGrantType:
      return "unsupported_grant_type";
    case OAuth2Error::MissingParam:
    case OAuth2Error::MalformedReply:
      return "invalid_request";
  }
  return "invalid_request";
}

Result<AuthorizeRequest, OAuth2Error> parse_authorize_request(const http::Params& query) {
  if (value_or_empty(query, "response_type") != "code")
    return unexpected(OAuth2Error::UnsupportedResponseType);
  AuthorizeRequest out;
  out.client_id = value_or_empty(query, "client_id");
  std::string_view scope;
  if (const std::string* s = find_param(query, "scope")) scope = *s;
  while (!scope.empty()) {
    const std::size_t sep = scope.find_first_of(" ,");
    const std::string_view item = scope.substr(0, sep);
    scope = sep == std::string_view::npos ? std::string_view{} : scope.substr(sep + 1);
    if (item.substr(0, 6) == "appid:") {
      out.appid = std::string(item.substr(6));
    } else if (item.substr(0, 6) == "alias:") {
      out.alias = std::string(item.substr(6));
    }
  }
  out.mgrev = after_prefix(value_or_empty(query, "state"), "mgrev:");
  if (out.client_id.empty() || out.appid.empty()) return unexpected(OAuth2Error::MissingParam);
  return out;
}

std::string build_authorize_query(const AuthorizeRequest& r) {
  std::string scope = "appid:" + r.appid;
  if (r.alias) scope.append(" alias:").append(*r.alias);
  return http::build_query({{"response_type", "code"},
                            {"client_id", r.client_id},
                            {"scope", scope},
                            {"state", "mgrev:" + r.mgrev}});
}

std::string authorize_redirect_location(std::string_view redirect_base, std::string_view code) {
  std::string out(redirect_base);
  out.push_back(out.find('?') == std::string::npos ? '?' : '&');
  out.append("code=");
  http::percent_encode_to(code, out);
  return out;
}

std::optional<std::string> code_from_url(std::string_view url) {
  const std::size_t at = url.find("code=");
  if (at == std::string_view::npos) return std::nullopt;
  std::string code(url.substr(at + 5));
  if (code.empty()) return std::nullopt;
  return code;
}

Result<TokenRequest, OAuth2Error> parse_token_request(const http::Params& params) {
  if (value_or_empty(params, "grant_type") != "authorization_code") {
    return unexpected(OAuth2Error::UnsupportedGrantType);
  }
  TokenRequest out;
  out.code = value_or_empty(params, "code");
  out.client_id = value_or_empty(params, "client_id");
  out.client_secret = value_or_empty(params, "client_secret");
  out.mgrev = after_prefix(value_or_empty(params, "state"), "mgrev:");
  if (out.code.empty() || out.client_id.empty() || out.client_secret.empty()) {
    return unexpected(OAuth2Error::MissingParam);
  }
  return out;
}

std::string build_token_query(const TokenRequest& r) {
  return http::build_query({{"grant_type", "authorization_code"},
                            {"code", r.code},
                            {"client_id", r.client_id},
                            {"client_secret", r.client_secret},
                            {"state", "mgrev:" + r.mgrev}});
}

std::string build_token_reply(const TokenReply& r) {
  nlohmann::ordered_json j;
  j["access_token"] = r.token + ":" + r.secret;
  j["token_type"] = "bearer";
  j["flag"] = std::string(1, static_cast<char>(r.flag));
  j["endpoint"] = format_endpoint(r.endpoint);
  // Replace invalid UTF-8 instead of throwing: host names come from configuration.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<TokenReply, OAuth2Error> parse_token_reply(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return unexpected(OAuth2Error::MalformedReply);
  const auto at = j.find("access_token");
  const auto ep = j.find("endpoint");
  if (at == j.end() || !at->is_string() || ep == j.end() || !ep->is_string()) {
    return unexpected(OAuth2Error::MalformedReply);
  }
  const std::string& access = at->get_ref<const std::string&>();
  const std::size_t colon = access.find(':');
  if (colon == std::string::npos || colon == 0) return unexpected(OAuth2Error::MalformedReply);
  auto endpoint = parse_endpoint(ep->get_ref<const std::string&>());
  if (!endpoint) return unexpected(OAuth2Error::MalformedReply);
  TokenReply out;
  out.token = access.substr(0, colon);
  out.secret = access.substr(colon + 1);
  out.endpoint = std::move(endpoint.value());
  if (const auto fl = j.find("flag"); fl != j.end()) {
    if (!fl->is_string()) return unexpected(OAuth2Error::MalformedReply);
    const std::string& f = fl->get_ref<const std::string&>();
    if (f == "S") {
      out.flag = TokenFlag::Session;
    } else if (f != "P") {
      return unexpected(OAuth2Error::MalformedReply);
    }
  }
  return out;
}

std::string build_error_json(std::string_view error, std::string_view description) {
  nlohmann::ordered_json j;
  j["error"] = std::string(error);
  j["error_description"] = std::string(description);
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace gw::microgear
