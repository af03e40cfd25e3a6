#include "http/message.h"

#include <boost/url/parse_query.hpp>

#include <strings.h>

#include <cctype>

#include "core/log.h"

namespace gatehouse::http {
namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

const std::string* Request::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

std::size_t Request::header_count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& h : headers)
    if (iequals(h.name, name)) ++n;
  return n;
}

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

std::optional<std::vector<std::pair<std::string, std::string>>> Request::query_params() const {
  return parse_form(query);
}

std::optional<std::vector<std::pair<std::string, std::string>>> parse_form(std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  if (text.empty()) return out;
  // Boost.URL 1.81's parse_query reads a byte past a string that is not NUL-terminated (found
  // by fuzz/fuzz_form.cc under ASan): it gets a terminated copy, which the results point into.
  const std::string terminated(text);
  auto parsed = boost::urls::parse_query(terminated);
  if (!parsed) return std::nullopt;
  boost::urls::encoding_opts form;
  form.space_as_plus = true;  // application/x-www-form-urlencoded: '+' is a space
  for (auto param : *parsed)
    out.emplace_back(param.key.decode(form), param.has_value ? param.value.decode(form) : std::string());
  return out;
}

std::optional<std::string> form_decode(std::string_view text) {
  // One parameter's worth: a '&' or '=' in it would have had to be escaped, so either is
  // refused, as is a '%' not followed by two hex digits.
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '&' || c == '=') return std::nullopt;
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      const int hi = i + 2 < text.size() ? hex(text[i + 1]) : -1;
      const int lo = hi >= 0 ? hex(text[i + 2]) : -1;
      if (lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string form_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Response& Response::remove(std::string_view name) {
  std::erase_if(headers, [&](const Header& h) { return iequals(h.name, name); });
  return *this;
}

Response& Response::set(std::string name, std::string value) {
  for (auto& h : headers) {
    if (iequals(h.name, name)) {
      h.value = std::move(value);
      return *this;
    }
  }
  headers.push_back(Header{std::move(name), std::move(value)});
  return *this;
}

Response& Response::add(std::string name, std::string value) {
  headers.push_back(Header{std::move(name), std::move(value)});
  return *this;
}

const std::string* Response::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

std::string with_query(std::string url, const std::vector<std::pair<std::string, std::string>>& params) {
  char sep = url.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    url += sep;
    url += form_encode(k);
    url += '=';
    url += form_encode(v);
    sep = '&';
  }
  return url;
}

Response redirect(std::string location, int status) {
  Response res;
  res.status = status;
  res.set("Location", std::move(location));
  res.set("Cache-Control", "no-store");
  return res;
}

Response json_response(int status, std::string json_body) {
  Response r{.status = status, .headers = {}, .body = std::move(json_body)};
  r.set("Content-Type", "application/json");
  return r;
}

Response error_response(int status, std::string_view code, std::string_view description) {
  std::string body = "{\"error\":";
  log::append_json_string(body, code);
  body += ",\"error_description\":";
  log::append_json_string(body, description);
  body += "}";
  return json_response(status, std::move(body));
}

Response no_content() { return Response{.status = 204, .headers = {}, .body = {}}; }

}  // namespace gatehouse::http
