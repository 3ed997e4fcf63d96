// Builders and parsers for the gearauth payloads (see gearauth.hpp).
#include "protocols/microgear/gearauth.hpp"

#include "protocols/http/url_encoding.hpp"

namespace gw::microgear {
namespace {

using http::find_param;
using http::percent_encode;

std::string_view first_line(std::string_view body) {
  const std::size_t end = body.find_first_of("\r\n");
  return end == std::string_view::npos ? body : body.substr(0, end);
}

std::string value_or_empty(const http::Params& ps, std::string_view name) {
  const std::string* v = find_param(ps, name);
  return v ? *v : std::string{};
}

}  // namespace

const char* to_string(GearauthError e) {
  switch (e) {
    case GearauthError::MissingAppId:
      return "oauth_callback without appid";
    case GearauthError::MissingField:
      return "token reply without a required field";
    case GearauthError::BadEndpoint:
      return "endpoint is not pie://host:port";
    case GearauthError::BadFlag:
      return "token flag is neither P nor S";
  }
  return "?";
}

Result<CallbackParams, GearauthError> parse_callback(std::string_view callback) {
  const http::Params ps = http::parse_query(callback);
  CallbackParams out;
  out.scope = value_or_empty(ps, "scope");
  out.appid = value_or_empty(ps, "appid");
  out.mgrev = value_or_empty(ps, "mgrev");
  out.verifier = value_or_empty(ps, "verifier");
  if (out.appid.empty()) return unexpected(GearauthError::MissingAppId);
  return out;
}

std::string build_callback(const CallbackParams& p) {
  return http::build_query(
      {{"scope", p.scope}, {"appid", p.appid}, {"mgrev", p.mgrev}, {"verifier", p.verifier}});
}

std::string format_endpoint(const Endpoint& e) {
  std::string out = "pie://" + e.host;
  if (e.port) out.append(":").append(std::to_string(*e.port));
  return out;
}

Result<Endpoint, GearauthError> parse_endpoint(std::string_view s) {
  constexpr std::string_view kPrefix = "pie://";
  if (s.substr(0, kPrefix.size()) != kPrefix) return unexpected(GearauthError::BadEndpoint);
  s.remove_prefix(kPrefix.size());
  Endpoint out;
  const std::size_t colon = s.find(':');
  out.host = std::string(s.substr(0, colon));
  if (out.host.empty()) return unexpected(GearauthError::BadEndpoint);
  if (colon != std::string_view::npos) {
    const std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return unexpected(GearauthError::BadEndpoint);
    std::uint32_t v = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return unexpected(GearauthError::BadEndpoint);
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (v == 0 || v > 65535) return unexpected(GearauthError::BadEndpoint);
    out.port = static_cast<std::uint16_t>(v);
  }
  return out;
}

std::string build_rtoken_body(const RequestTokenReply& r) {
  std::string out = "oauth_token=";
  out.append(percent_encode(r.token));
  out.append("&oauth_token_secret=").append(percent_encode(r.secret));
  out.append("&oauth_callback_confirmed=true");
  return out;
}

Result<RequestTokenReply, GearauthError> parse_rtoken_body(std::string_view body) {
  const http::Params ps = http::parse_query(first_line(body));
  const std::string* token = find_param(ps, "oauth_token");
  const std::string* secret = find_param(ps, "oauth_token_secret");
  if (!token || !secret || token->empty()) return unexpected(GearauthError::MissingField);
  return RequestTokenReply{*token, *secret};
}

std::string build_atoken_body(const AccessTokenReply& r) {
  std::string out = "flag=";
  out.push_back(static_cast<char>(r.flag));
  out.append("&oauth_token=").append(percent_encode(r.token));
  out.append("&oauth_token_secret=").append(percent_encode(r.secret));
  out.append("&endpoint=").append(percent_encode(format_endpoint(r.endpoint)));
  return out;
}

Result<AccessTokenReply, GearauthError> parse_atoken_body(std::string_view body) {
  const http::Params ps = http::parse_query(first_line(body));
  const std::string* token = find_param(ps, "oauth_token");
  const std::string* secret = find_param(ps, "oauth_token_secret");
  const std::string* endpoint = find_param(ps, "endpoint");
  if (!token || !secret || !endpoint || token->empty()) return unexpected(GearauthError::MissingField);
  AccessTokenReply out;
  if (const std::string* flag = find_param(ps, "flag")) {
    if (*flag == "P") {
      out.flag = TokenFlag::Persistent;
    } else if (*flag == "S") {
      out.flag = TokenFlag::Session;
    } else {
      return unexpected(GearauthError::BadFlag);
    }
  }
  auto ep = parse_endpoint(*endpoint);
  if (!ep) return unexpected(ep.error());
  out.token = *token;
  out.secret = *secret;
  out.endpoint = std::move(ep.value());
  if (const std::string* appkey = find_param(ps, "appkey")) out.appkey = *appkey;
  return out;
}

}  // namespace gw::microgear
