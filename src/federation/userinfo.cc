#include "federation/userinfo.h"

#include <boost/json.hpp>

namespace gatehouse::federation {
namespace {

namespace json = boost::json;

// GETs `url` with the bearer token and parses the JSON answer.
Result<json::value, UpstreamError> get_json(const Fetch& fetch, const std::string& url, std::string_view token,
                                            const char* accept, const char* what) {
  auto response = fetch(http::ClientRequest{
      .method = "GET",
      .url = url,
      .headers = {{"authorization", "Bearer " + std::string(token)}, {"accept", accept}}});
  if (!response) return upstream_error(UpstreamErrc::unavailable, std::string(what) + ": " + response.error().message);
  if (response->status == 401) return upstream_error(UpstreamErrc::bad_token, std::string(what) + ": the access token was refused");
  if (response->status != 200)
    return upstream_error(UpstreamErrc::unavailable, std::string(what) + ": HTTP status " + std::to_string(response->status));
  json::error_code ec;
  json::value doc = json::parse(response->body, ec);
  if (ec) return upstream_error(UpstreamErrc::bad_metadata, std::string(what) + " is not JSON");
  return doc;
}

// A string member, or an integer one spelled in decimal (ids are often numbers).
std::string scalar(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return {};
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  return {};
}

Result<void, UpstreamError> check_subject(const std::string& subject, const char* what) {
  if (subject.empty() || subject.size() > kMaxSubjectBytes)
    return upstream_error(UpstreamErrc::bad_token, std::string(what) + " names no usable subject");
  return {};
}

}  // namespace

Result<UpstreamIdentity, UpstreamError> github_identity(const Fetch& fetch, const std::string& api_base,
                                                        std::string_view access_token) {
  std::string base = api_base;
  while (!base.empty() && base.back() == '/') base.pop_back();
  constexpr const char* kAccept = "application/vnd.github+json";
  auto user = get_json(fetch, base + "/user", access_token, kAccept, "GitHub's /user");
  if (!user) return tl::unexpected(user.error());
  if (!user->is_object()) return upstream_error(UpstreamErrc::bad_metadata, "GitHub's /user is not a JSON object");
  const auto& u = user->get_object();
  UpstreamIdentity identity{.subject = scalar(u, "id"), .email = scalar(u, "email"), .email_verified = false,
                            .username = scalar(u, "login"), .name = scalar(u, "name")};
  if (auto ok = check_subject(identity.subject, "GitHub's /user"); !ok) return tl::unexpected(ok.error());

  auto emails = get_json(fetch, base + "/user/emails", access_token, kAccept, "GitHub's /user/emails");
  if (!emails) {
    // Without the user:email scope GitHub answers 404 or 403: keep /user's public email, unverified.
    if (emails.error().code == UpstreamErrc::unavailable) return identity;
    return tl::unexpected(emails.error());
  }
  if (!emails->is_array()) return identity;
  for (const auto& entry : emails->get_array()) {
    if (!entry.is_object()) continue;
    const auto& e = entry.get_object();
    const auto* primary = e.if_contains("primary");
    const auto* verified = e.if_contains("verified");
    if (primary && primary->is_bool() && primary->get_bool() && verified && verified->is_bool() && verified->get_bool()) {
      identity.email = scalar(e, "email");
      identity.email_verified = !identity.email.empty();
      break;
    }
  }
  return identity;
}

Result<UpstreamIdentity, UpstreamError> oauth2_identity(const Fetch& fetch, const std::string& userinfo_url,
                                                        std::string_view access_token, const ClaimMapping& mapping) {
  auto info = get_json(fetch, userinfo_url, access_token, "application/json", "the userinfo answer");
  if (!info) return tl::unexpected(info.error());
  if (!info->is_object()) return upstream_error(UpstreamErrc::bad_metadata, "the userinfo answer is not a JSON object");
  const auto& o = info->get_object();
  UpstreamIdentity identity{.subject = scalar(o, mapping.subject), .email = scalar(o, mapping.email),
                            .email_verified = false, .username = scalar(o, mapping.username), .name = scalar(o, "name")};
  if (auto ok = check_subject(identity.subject, "the userinfo answer"); !ok) return tl::unexpected(ok.error());
  if (const auto* v = o.if_contains("email_verified"); v && v->is_bool()) identity.email_verified = v->get_bool();
  return identity;
}

}  // namespace gatehouse::federation
