#include "http/client.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <cctype>
#include <optional>

namespace gatehouse::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxHeaderBytes = 16 * 1024;

tl::unexpected<ClientError> fail(ClientErrc code, std::string message) {
  return tl::unexpected(ClientError{code, std::move(message)});
}

struct Target {
  bool tls{true};
  std::string host;  // without brackets
  std::string port;
  std::string host_header;
  std::string path;  // path and query, as sent
};

Result<Target, ClientError> parse_target(const std::string& url, bool allow_plain_http) {
  auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return fail(ClientErrc::bad_url, "not an absolute URL");
  Target t;
  const std::string scheme(u->scheme());
  if (scheme == "http" && allow_plain_http) t.tls = false;
  else if (scheme != "https") return fail(ClientErrc::bad_url, "only https:// URLs are allowed");
  if (u->has_userinfo()) return fail(ClientErrc::bad_url, "credentials in a URL are refused");
  if (u->has_fragment()) return fail(ClientErrc::bad_url, "a URL with a fragment is refused");
  t.host = u->host_address();
  if (t.host.empty()) return fail(ClientErrc::bad_url, "the URL has no host");
  t.port = u->has_port() ? std::string(u->port()) : (t.tls ? "443" : "80");
  t.host_header = std::string(u->encoded_host_and_port());
  t.path = u->encoded_path().empty() ? "/" : std::string(u->encoded_path());
  if (u->has_query()) t.path += "?" + std::string(u->encoded_query());
  return t;
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Runs the io_context until `done` or the deadline; false on the deadline.
bool run_until(asio::io_context& io, const bool& done, Clock::time_point deadline) {
  io.restart();
  while (!done) {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (io.run_one_for(deadline - now) == 0 && !done && Clock::now() >= deadline) return false;
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const std::string* ClientResponse::header(std::string_view name) const {
  const std::string wanted = lower(name);
  for (const auto& h : headers)
    if (h.name == wanted) return &h.value;
  return nullptr;
}

struct HttpClient::Impl {
  ClientOptions options;
  std::unique_ptr<ssl::context> tls;  // one SSL_CTX for every call: read-only once set up

  // Writes the request and reads the answer on a connected (and, for TLS, handshaken) stream.
  template <class Stream>
  Result<ClientResponse, ClientError> exchange(asio::io_context& io, Stream& stream, const Target& t,
                                               const ClientRequest& request, Clock::time_point deadline) const {
    bhttp::request<bhttp::string_body> req;
    req.version(11);
    req.method_string(request.method);
    req.target(t.path);
    req.set(bhttp::field::host, t.host_header);
    req.set(bhttp::field::user_agent, "gatehouse");
    for (const auto& h : request.headers) req.set(h.name, h.value);
    req.set(bhttp::field::connection, "close");
    req.body() = request.body;
    req.prepare_payload();

    bool done = false;
    beast::error_code ec;
    bhttp::async_write(stream, req, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(io, done, deadline)) return fail(ClientErrc::timeout, "no answer from " + t.host + " in time");
    if (ec) return fail(ClientErrc::unreachable, "sending to " + t.host + " failed: " + ec.message());

    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(kMaxHeaderBytes);
    done = false;
    bhttp::async_read(stream, buffer, parser, [&](beast::error_code e, std::size_t) {
      ec = e;
      done = true;
    });
    if (!run_until(io, done, deadline)) return fail(ClientErrc::timeout, "no answer from " + t.host + " in time");
    if (ec == bhttp::error::body_limit || ec == bhttp::error::header_limit)
      return fail(ClientErrc::too_large, "the answer from " + t.host + " is over the size limit");
    if (ec) return fail(ClientErrc::protocol, "reading the answer from " + t.host + " failed: " + ec.message());

    ClientResponse out;
    const auto& res = parser.get();
    out.status = static_cast<int>(res.result_int());
    for (const auto& f : res) out.headers.push_back(Header{lower(f.name_string()), std::string(f.value())});
    out.body = std::move(parser.release().body());
    return out;
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpClient, std::string> HttpClient::create(ClientOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* ctx = impl->tls->native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  impl->tls->set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (options.ca_file.empty()) impl->tls->set_default_verify_paths(ec);
  else impl->tls->load_verify_file(options.ca_file, ec);
  if (ec)
    return tl::unexpected((options.ca_file.empty() ? std::string("cannot read the system CA store")
                                                   : "cannot read the CA file " + options.ca_file) +
                          ": " + ec.message());
  impl->options = std::move(options);
  return HttpClient(std::move(impl));
}

Result<ClientResponse, ClientError> HttpClient::send(const ClientRequest& request) const {
  auto target = parse_target(request.url, impl_->options.allow_plain_http);
  if (!target) return tl::unexpected(target.error());
  const Target& t = *target;
  const auto deadline = Clock::now() + impl_->options.timeout;
  asio::io_context io;

  tcp::resolver resolver(io);
  tcp::resolver::results_type endpoints;
  bool done = false;
  beast::error_code ec;
  resolver.async_resolve(t.host, t.port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
    done = true;
  });
  if (!run_until(io, done, deadline)) return fail(ClientErrc::timeout, "resolving " + t.host + " took too long");
  if (ec) return fail(ClientErrc::unreachable, "cannot resolve " + t.host + ": " + ec.message());

  const auto connect = [&](tcp::socket& socket) -> Result<void, ClientError> {
    done = false;
    asio::async_connect(socket, endpoints, [&](beast::error_code e, const tcp::endpoint&) {
      ec = e;
      done = true;
    });
    if (!run_until(io, done, deadline)) return fail(ClientErrc::timeout, "connecting to " + t.host + " took too long");
    if (ec) return fail(ClientErrc::unreachable, "cannot connect to " + t.host + ": " + ec.message());
    return {};
  };

  if (!t.tls) {
    tcp::socket socket(io);
    if (auto connected = connect(socket); !connected) return tl::unexpected(connected.error());
    return impl_->exchange(io, socket, t, request, deadline);
  }

  ssl::stream<tcp::socket> stream(io, *impl_->tls);
  SSL* native = stream.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(native);
  if (is_ip_literal(t.host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str()) != 1)
      return fail(ClientErrc::bad_url, "cannot check a certificate for " + t.host);
  } else {
    SSL_set_tlsext_host_name(native, t.host.c_str());  // SNI
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_host(param, t.host.c_str(), t.host.size()) != 1)
      return fail(ClientErrc::bad_url, "cannot check a certificate for " + t.host);
  }
  if (auto connected = connect(stream.next_layer()); !connected) return tl::unexpected(connected.error());
  done = false;
  stream.async_handshake(ssl::stream_base::client, [&](beast::error_code e) {
    ec = e;
    done = true;
  });
  if (!run_until(io, done, deadline)) return fail(ClientErrc::timeout, "the TLS handshake with " + t.host + " took too long");
  if (ec) {
    const long verify = SSL_get_verify_result(native);
    std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ec.message();
    return fail(ClientErrc::tls, "TLS with " + t.host + " failed: " + why);
  }
  return impl_->exchange(io, stream, t, request, deadline);
}

}  // namespace gatehouse::http
