// OAuth 1.0a header parsing, signature base string, HMAC-SHA1 signing and verification
// (see oauth1.hpp; section numbers are RFC 5849's).
#include "protocols/microgear/oauth1.hpp"

#include <algorithm>
#include <vector>

#include "protocols/http/request.hpp"
#include "protocols/microgear/crypto.hpp"

namespace gw::microgear {
namespace {

using http::percent_decode;
using http::percent_encode;
using http::PlusMeans;

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

const char* to_string(HeaderError e) {
  switch (e) {
    case HeaderError::NotOAuth:
      return "not an OAuth Authorization header";
    case HeaderError::Malformed:
      return "malformed OAuth parameter";
    case HeaderError::DuplicateParam:
      return "duplicate OAuth parameter";
    case HeaderError::TooManyParams:
      return "too many OAuth parameters";
  }
  return "?";
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::Ok:
      return "ok";
    case Verdict::MissingParam:
      return "missing OAuth parameter";
    case Verdict::DuplicateParam:
      return "duplicate OAuth parameter";
    case Verdict::UnsupportedSignatureMethod:
      return "unsupported signature method";
    case Verdict::UnsupportedVersion:
      return "unsupported OAuth version";
    case Verdict::BadSignature:
      return "bad signature";
  }
  return "?";
}

Result<AuthorizationHeader, HeaderError> parse_authorization(std::string_view value) {
  std::size_t i = 0;
  const std::size_t n = value.size();
  while (i < n && is_space(value[i])) ++i;
  const std::size_t scheme_start = i;
  while (i < n && !is_space(value[i])) ++i;
  if (!http::iequals(value.substr(scheme_start, i - scheme_start), "OAuth")) {
    return unexpected(HeaderError::NotOAuth);
  }
  AuthorizationHeader out;
  while (true) {
    while (i < n && (is_space(value[i]) || value[i] == ',')) ++i;
    if (i == n) break;
    const std::size_t name_start = i;
    while (i < n && value[i] != '=' && value[i] != ',' && value[i] != '"' && !is_space(value[i])) ++i;
    const std::string_view name = value.substr(name_start, i - name_start);
    if (name.empty()) return unexpected(HeaderError::Malformed);
    while (i < n && is_space(value[i])) ++i;
    if (i == n || value[i] != '=') return unexpected(HeaderError::Malformed);
    ++i;
    while (i < n && is_space(value[i])) ++i;
    std::string_view raw;
    if (i < n && value[i] == '"') {
      const std::size_t close = value.find('"', i + 1);
      if (close == std::string_view::npos) return unexpected(HeaderError::Malformed);
      raw = value.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      const std::size_t start = i;
      while (i < n && value[i] != ',' && !is_space(value[i])) ++i;
      raw = value.substr(start, i - start);
    }
    std::string dname = percent_decode(name, PlusMeans::Plus);
    if (dname == "realm") {
      // §3.5.1: realm is an RFC 2617 quoted-string, not percent-encoded, and never signed.
      if (out.realm) return unexpected(HeaderError::DuplicateParam);
      out.realm = std::string(raw);
      continue;
    }
    if (http::find_param(out.params, dname)) return unexpected(HeaderError::DuplicateParam);
    if (out.params.size() >= kMaxHeaderParams) return unexpected(HeaderError::TooManyParams);
    out.params.push_back({std::move(dname), percent_decode(raw, PlusMeans::Plus)});
  }
  return out;
}

std::string base_string_uri(std::string_view scheme, std::string_view host, std::string_view path) {
  const std::string s = ascii_lower(scheme);
  std::string_view hostpart = host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close != std::string_view::npos) {
      hostpart = host.substr(0, close + 1);
      const std::string_view rest = host.substr(close + 1);
      if (!rest.empty() && rest.front() == ':') port = rest.substr(1);
    }
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    hostpart = host.substr(0, colon);
    port = host.substr(colon + 1);
  }
  const bool default_port = port.empty() || (s == "http" && port == "80") || (s == "https" && port == "443");
  std::string out = s;
  out.append("://").append(ascii_lower(hostpart));
  if (!default_port) out.append(":").append(port);
  out.append(path.empty() ? std::string_view{"/"} : path);
  return out;
}

std::string normalize_parameters(const Params& params) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(params.size());
  for (const Param& p : params) {
    if (p.name == "oauth_signature") continue;
    enc.emplace_back(percent_encode(p.name), percent_encode(p.value));
  }
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [name, value] : enc) {
    if (!out.empty()) out.push_back('&');
    out.append(name).append("=").append(value);
  }
  return out;
}

std::string signature_base_string(std::string_view method, std::string_view base_uri, const Params& params) {
  std::string out = percent_encode(ascii_upper(method));
  out.push_back('&');
  http::percent_encode_to(base_uri, out);
  out.push_back('&');
  http::percent_encode_to(normalize_parameters(params), out);
  return out;
}

std::string sign_hmac_sha1(std::string_view base_string, std::string_view consumer_secret,
                           std::string_view token_secret) {
  std::string key = percent_encode(consumer_secret);
  key.push_back('&');
  http::percent_encode_to(token_secret, key);
  return hmac_sha1_base64(key, base_string);
}

Params gather_params(const AuthorizationHeader* header, const Params& query, const Params* form_body) {
  Params out;
  if (header) out = header->params;
  out.insert(out.end(), query.begin(), query.end());
  if (form_body) out.insert(out.end(), form_body->begin(), form_body->end());
  return out;
}

Verdict verify_hmac_sha1(std::string_view method, std::string_view base_uri, const Params& params,
                         std::string_view consumer_secret, std::string_view token_secret) {
  // §3.1: protocol parameters appear at most once per request. Sorting keeps this O(n log n) even for
  // a large form body.
  std::vector<std::string_view> protocol;
  for (const Param& p : params) {
    if (starts_with(p.name, "oauth_")) protocol.push_back(p.name);
  }
  std::sort(protocol.begin(), protocol.end());
  if (std::adjacent_find(protocol.begin(), protocol.end()) != protocol.end()) return Verdict::DuplicateParam;

  const std::string* signature = http::find_param(params, "oauth_signature");
  const std::string* sig_method = http::find_param(params, "oauth_signature_method");
  if (!signature || !sig_method || !http::find_param(params, "oauth_consumer_key") ||
      !http::find_param(params, "oauth_timestamp") || !http::find_param(params, "oauth_nonce")) {
    return Verdict::MissingParam;
  }
  if (*sig_method != "HMAC-SHA1") return Verdict::UnsupportedSignatureMethod;
  if (const std::string* version = http::find_param(params, "oauth_version"); version && *version != "1.0") {
    return Verdict::UnsupportedVersion;
  }
  const std::string expected =
      sign_hmac_sha1(signature_base_string(method, base_uri, params), consumer_secret, token_secret);
  return constant_time_equal(expected, *signature) ? Verdict::Ok : Verdict::BadSignature;
}

Result<Params, HeaderError> request_params(const http::Request& req) {
  std::optional<AuthorizationHeader> header;
  if (const std::string* value = req.headers.find("Authorization")) {
    auto parsed = parse_authorization(*value);
    if (!parsed) return unexpected(parsed.error());
    header = std::move(parsed.value());
  }
  // RFC 5849 §3.4.1.3.1: the body counts only when it is single-part form-urlencoded.
  std::optional<Params> body;
  const std::string_view type = req.headers.get("Content-Type");
  constexpr std::string_view kForm = "application/x-www-form-urlencoded";
  if (type.size() >= kForm.size() && http::iequals(type.substr(0, kForm.size()), kForm)) {
    body = http::parse_query(req.body);
  }
  return gather_params(header ? &*header : nullptr, req.query_params, body ? &*body : nullptr);
}

std::string request_base_uri(const http::Request& req, std::string_view scheme,
                             std::string_view fallback_host) {
  std::string_view host = req.authority;
  if (host.empty()) host = req.headers.get("Host");
  if (host.empty()) host = fallback_host;
  return base_string_uri(scheme, host, req.path);
}

Verdict verify_request(const http::Request& req, std::string_view scheme, std::string_view fallback_host,
                       std::string_view consumer_secret, std::string_view token_secret) {
  const auto params = request_params(req);
  if (!params) return Verdict::MissingParam;
  return verify_hmac_sha1(req.method, request_base_uri(req, scheme, fallback_host), params.value(),
                          consumer_secret, token_secret);
}

TimestampCheck check_timestamp(std::string_view timestamp, std::int64_t now, std::int64_t max_age,
                               std::int64_t max_ahead) {
  // At most 18 digits: fits in int64 without overflow checks.
  if (timestamp.empty() || timestamp.size() > 18) return TimestampCheck::Malformed;
  std::int64_t ts = 0;
  for (char c : timestamp) {
    if (c < '0' || c > '9') return TimestampCheck::Malformed;
    ts = ts * 10 + (c - '0');
  }
  return check_time_window(ts, now, max_age, max_ahead);
}

TimestampCheck check_time_window(std::int64_t ts, std::int64_t now, std::int64_t max_age,
                                 std::int64_t max_ahead) {
  // Differences in uint64: exact for any pair of int64 values, so no overflow whatever the inputs.
  const auto u = [](std::int64_t x) { return static_cast<std::uint64_t>(x); };
  if (ts < now && u(now) - u(ts) > u(std::max<std::int64_t>(max_age, 0))) return TimestampCheck::TooOld;
  if (ts > now && u(ts) - u(now) > u(std::max<std::int64_t>(max_ahead, 0))) return TimestampCheck::TooNew;
  return TimestampCheck::Ok;
}

SignedRequest sign_request(const ClientRequest& req) {
  Params proto;
  if (req.callback) proto.push_back({"oauth_callback", *req.callback});
  proto.push_back({"oauth_consumer_key", req.consumer_key});
  proto.push_back({"oauth_nonce", req.nonce});
  proto.push_back({"oauth_signature_method", "HMAC-SHA1"});
  proto.push_back({"oauth_timestamp", std::to_string(req.timestamp)});
  if (!req.token.empty()) proto.push_back({"oauth_token", req.token});
  if (req.verifier) proto.push_back({"oauth_verifier", *req.verifier});
  proto.push_back({"oauth_version", "1.0"});

  Params all = proto;
  all.insert(all.end(), req.extra.begin(), req.extra.end());
  SignedRequest out;
  out.base_string = signature_base_string(req.method, req.base_uri, all);
  out.signature = sign_hmac_sha1(out.base_string, req.consumer_secret, req.token_secret);
  proto.push_back({"oauth_signature", out.signature});

  out.authorization = "OAuth ";
  bool first = true;
  if (req.realm) {
    out.authorization.append("realm=\"").append(*req.realm).append("\"");
    first = false;
  }
  for (const Param& p : proto) {
    if (!first) out.authorization.push_back(',');
    first = false;
    http::percent_encode_to(p.name, out.authorization);
    out.authorization.append("=\"");
    http::percent_encode_to(p.value, out.authorization);
    out.authorization.push_back('"');
  }
  return out;
}

}  // namespace gw::microgear
