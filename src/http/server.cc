#include "http/server.h"

#include "metrics/metrics.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl.hpp>
#include <openssl/ssl.h>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/log.h"
#include "core/net.h"
#include "core/random.h"

namespace gatehouse::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

// Blocking-pool threads run at a lower priority, so a storm of argon2id hashes cannot
// starve the network threads of CPU (health checks stay fast under a login storm).
constexpr int kBlockingPoolNice = 5;
// Hashing is the most expensive and least urgent work: a login storm must not delay the
// store-only requests of users who are already logged in.
constexpr int kHashingPoolNice = 10;
// After an error response we read (and drop) what the client is still sending before
// closing, so its kernel does not turn our unread data into a reset that eats the answer.
constexpr std::size_t kMaxDrainBytes = 1 << 20;
constexpr std::chrono::seconds kDrainTimeout{2};
// TLS 1.2 suites when the client cannot do 1.3: ECDHE only (forward secrecy), AEAD only
// (Mozilla's "intermediate" list). TLS 1.3 suites are all acceptable and stay at their default.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kHsts = "max-age=31536000";
// HTML pages (login, consent, errors) load nothing from elsewhere and are never framed.
constexpr const char* kHtmlCsp =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'";

struct Connection {
  explicit Connection(tcp::socket socket) : stream(std::move(socket)), watchdog(stream.get_executor()) {}
  beast::tcp_stream stream;
  // Everything below is only touched on the connection's io_context (one thread).
  bool busy{false};
  // The keep-alive wait between requests has no per-read timer (arming and cancelling one on
  // every request cost ~5% of a small request); this timer looks every idle_timeout / 4 and
  // ends a wait that has lasted idle_timeout.
  asio::steady_timer watchdog;
  bool idle{false};
  std::chrono::steady_clock::time_point idle_since{};
  // Until the client's first byte has come in, the wait for it is held to header_timeout rather
  // than idle_timeout: a client that connects and says nothing is not a keep-alive connection.
  bool heard{false};
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Optional whitespace (RFC 9110 §5.6.3) trimmed from both ends.
std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Beast's parser, filling our Request as it goes: each field lands in Request::headers with
// its name lower-cased, with no basic_fields in between to copy out of afterwards. Beast still
// does the framing checks (Content-Length vs Transfer-Encoding, duplicates, limits), and
// framing_ok adds stricter ones of ours.
class RequestParser final : public bhttp::basic_parser<true> {
 public:
  RequestParser() { req_.headers.reserve(16); }

  Request& request() { return req_; }
  unsigned version() const { return version_; }
  // Why the framing was refused, when it was (see framing_ok).
  std::string_view refusal() const { return refusal_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int version,
                       beast::error_code&) override {
    req_.method.assign(method.data(), method.size());
    req_.target.assign(target.data(), target.size());
    version_ = static_cast<unsigned>(version);
  }
  void on_response_impl(int, beast::string_view, int, beast::error_code& ec) override {
    ec = bhttp::error::bad_version;  // a request parser never sees a status line
  }
  void on_field_impl(bhttp::field field, beast::string_view name, beast::string_view value,
                     beast::error_code& ec) override {
    // A chunked body's trailer fields come through here too, after the header. They are
    // dropped (RFC 9110 §6.5.1: never merged into the header section): otherwise a client
    // could slip an Authorization or X-Forwarded-For past a proxy that filters only headers.
    if (in_trailer_) return;
    if (!framing_ok(field, std::string_view(value.data(), value.size()))) {
      ec = bhttp::error::bad_field;
      return;
    }
    Header& h = req_.headers.emplace_back();
    h.name = lower(std::string_view(name.data(), name.size()));
    h.value.assign(value.data(), value.size());
  }
  void on_header_impl(beast::error_code& ec) override {
    in_trailer_ = true;
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host, an HTTP/1.0 one at most one.
    if (hosts_ > 1 || (hosts_ == 0 && version_ >= 11)) {
      refusal_ = "The request must carry exactly one Host header.";
      ec = bhttp::error::bad_field;
    }
  }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    // basic_parser has already refused a length above body_limit.
    if (length) req_.body.reserve(static_cast<std::size_t>(*length));
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    req_.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  // Where a front proxy and this server could disagree on where a request ends, the request is
  // refused instead (request smuggling). Beast already refuses Content-Length with
  // Transfer-Encoding, conflicting lengths, a repeated Transfer-Encoding and a body with
  // chunked not last; on top of that:
  // - one Content-Length with one value: a repeated or listed length, even if equal, is refused;
  // - Transfer-Encoding only as exactly `chunked`, and only in HTTP/1.1: another coding
  //   (identity, gzip, "chunked, chunked"…) would otherwise leave the body unframed, and is
  //   read by some proxies as chunked and by others as not.
  bool framing_ok(bhttp::field field, std::string_view value) {
    if (field == bhttp::field::content_length) {
      if (++lengths_ > 1 || value.find(',') != std::string_view::npos)
        refusal_ = "The request must carry at most one Content-Length, with one value.";
    } else if (field == bhttp::field::transfer_encoding) {
      if (version_ < 11 || !beast::iequals(trim_ows(value), "chunked"))
        refusal_ = "Transfer-Encoding must be exactly \"chunked\", in HTTP/1.1.";
    } else if (field == bhttp::field::host) {
      ++hosts_;
    }
    return refusal_.empty();
  }

  Request req_;
  unsigned version_{11};
  bool in_trailer_{false};
  int lengths_{0};
  int hosts_{0};
  std::string_view refusal_{};
};

// X-Request-Id values only need to be unique, not secret: 20 base62 characters from a
// per-thread xorshift generator seeded from the CSPRNG once (RAND_bytes takes locks).
std::string new_request_id() {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::uint64_t state = [] {
    std::uint64_t seed = 0;
    const std::string bytes = random_bytes(sizeof seed);
    std::memcpy(&seed, bytes.data(), sizeof seed);
    return seed | 1;
  }();
  std::string id(20, '0');
  for (std::size_t i = 0; i < id.size(); i += 10) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::uint64_t v = state;
    for (std::size_t j = i; j < i + 10 && j < id.size(); ++j, v /= 62) id[j] = kAlphabet[v % 62];
  }
  return id;
}

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Router& r) : options(std::move(o)), router(r) {
    for (const auto& entry : options.trusted_proxies)
      if (auto network = parse_network(entry)) proxies.push_back(*network);  // validated with the config
    for (int i = 1; i < std::max(1, options.network_threads); ++i) {
      auto& ctx = *others.emplace_back(std::make_unique<asio::io_context>(1));
      others_work.emplace_back(ctx.get_executor());
    }
  }

  ServerOptions options;
  const Router& router;
  // One io_context per network thread, each run by its thread alone: a connection lives on
  // one of them for good, so it needs no strand and the threads share no scheduler queue.
  // `ioc` (the first) also runs the acceptor and the signals. It is declared after `others`
  // so that it is destroyed first: the accept still pending on it at shutdown holds a socket
  // of one of `others`, and destroying that operation after its io_context was a
  // use-after-free (found by make test-asan).
  std::vector<std::unique_ptr<asio::io_context>> others;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> others_work;
  asio::io_context ioc{1};
  std::size_t next_context{0};  // round-robin for new connections; only the accept loop touches it
  asio::io_context pool;
  asio::executor_work_guard<asio::io_context::executor_type> pool_work{pool.get_executor()};
  asio::io_context hashing;
  asio::executor_work_guard<asio::io_context::executor_type> hashing_work{hashing.get_executor()};
  tcp::acceptor acceptor{ioc};
  asio::signal_set signals{ioc, SIGINT, SIGTERM};
  std::unique_ptr<asio::ssl::context> tls;  // set by listen() when HTTPS is configured
  std::vector<IpNetwork> proxies;           // server.trusted_proxies

  // The TLS context from the configured PEM files, or why it cannot be made.
  Result<void, std::string> load_tls() {
    if (options.tls_cert_file.empty() && options.tls_key_file.empty()) return {};
    if (options.tls_cert_file.empty() || options.tls_key_file.empty())
      return unexpected(std::string("tls: set both tls.cert_file and tls.key_file"));
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    beast::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                     ec);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) return unexpected(std::string("tls: the cipher list was refused"));
    ctx->use_certificate_chain_file(options.tls_cert_file, ec);
    if (ec) return unexpected("tls.cert_file: cannot load a PEM certificate chain from " + options.tls_cert_file);
    ctx->use_private_key_file(options.tls_key_file, asio::ssl::context::pem, ec);
    if (ec)
      return unexpected("tls.key_file: cannot use " + options.tls_key_file +
                        ": not a PEM private key, or not the key of tls.cert_file");
    if (SSL_CTX_check_private_key(native) != 1) return unexpected(std::string("tls: the private key does not match the certificate"));
    tls = std::move(ctx);
    return {};
  }

  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::condition_variable stop_cv;
  bool stop_requested{false};
  std::unordered_map<std::uint64_t, std::weak_ptr<Connection>> live;
  std::uint64_t next_id{0};

  // The client address: the peer, or for a trusted proxy the right-most address in
  // X-Forwarded-For that is not itself a trusted proxy.
  bool trusted(const std::string& ip) const {
    return std::any_of(proxies.begin(), proxies.end(), [&](const IpNetwork& n) { return network_contains(n, ip); });
  }

  std::string client_ip(const std::string& peer, const Request& req) const {
    if (!trusted(peer)) return peer;
    const std::string* forwarded = req.header("x-forwarded-for");
    if (!forwarded) return peer;
    std::string_view list = *forwarded;
    std::string candidate = peer;
    while (!list.empty()) {
      auto comma = list.rfind(',');
      std::string ip(trim_ows(comma == std::string_view::npos ? list : list.substr(comma + 1)));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
      if (ip.empty()) break;
      candidate = ip;
      if (!trusted(ip)) break;
    }
    return candidate;
  }

  // What the parser does not fill in: the split target, the client's address, HTTPS, the id.
  void complete(Request& req, const std::string& peer) const {
    const auto q = req.target.find('?');
    req.path = req.target.substr(0, q);
    if (q != std::string::npos) req.query = req.target.substr(q + 1);
    req.remote_ip = client_ip(peer, req);
    if (tls) {
      req.secure = true;
    } else if (trusted(peer)) {
      const std::string* proto = req.header("x-forwarded-proto");
      req.secure = proto && beast::iequals(*proto, "https");
    }
    const std::string* incoming = req.header("x-request-id");
    req.request_id = incoming && valid_request_id(*incoming) ? *incoming : new_request_id();
  }

  static Response invoke(const Route& route, Request& req) {
    try {
      Response res = route.handler(req);
      if (!res.rate_limit) res.rate_limit = req.rate_limit;
      return res;
    } catch (const std::exception& e) {
      log::error("handler failed", {{"route", route.pattern}, {"request_id", req.request_id}, {"what", e.what()}});
    } catch (...) {
      log::error("handler failed", {{"route", route.pattern}, {"request_id", req.request_id}});
    }
    return error_response(500, "server_error", "The server failed to handle the request.");
  }

  // gatehouse_http_requests_total and the latency histogram, by route template (never the
  // raw path) and a known method.
  // The series are found once per (route, method, status) and network thread, then kept:
  // a family's children never move or go away, and route patterns live as long as the router.
  static void count(std::string_view route, const std::string& method, int status,
                    std::chrono::steady_clock::time_point started) {
    static constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};
    std::size_t m = std::size(kMethods);
    for (std::size_t i = 0; i < std::size(kMethods); ++i)
      if (method == kMethods[i]) m = i;
    struct Series {
      metrics::Counter* requests;
      metrics::Histogram* duration;
    };
    struct Key {
      const char* route;
      std::size_t method;
      int status;
      bool operator==(const Key&) const = default;
    };
    struct KeyHash {
      std::size_t operator()(const Key& k) const {
        return std::hash<const void*>{}(k.route) ^ (k.method << 20) ^ static_cast<std::size_t>(k.status) * 0x9E3779B1u;
      }
    };
    thread_local std::unordered_map<Key, Series, KeyHash> cache;
    const Key key{route.data(), m, status};
    auto it = cache.find(key);
    if (it == cache.end()) {
      const std::string_view method_label = m < std::size(kMethods) ? kMethods[m] : std::string_view("other");
      Series series{&metrics::http_requests().with({route, method_label, std::to_string(status)}),
                    &metrics::http_duration().with({route})};
      if (cache.size() > 4096) cache.clear();  // bounded, whatever comes
      it = cache.emplace(key, series).first;
    }
    it->second.requests->inc();
    it->second.duration->observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }

  asio::awaitable<Response> dispatch(Request& req) {
    const auto started = std::chrono::steady_clock::now();
    RouteMatch match = router.match(req);
    Response res = co_await dispatch_matched(req, match);
    if (res.complete) {
      // Let the handlers already queued on this network thread run first (they may add to
      // the same batch of work), then finish this response here.
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
      finish(*match.route, req, res);
    }
    count(match.route ? std::string_view(match.route->pattern) : std::string_view("unmatched"), req.method,
          res.status, started);
    co_return res;
  }

  asio::awaitable<Response> dispatch_matched(Request& req, const RouteMatch& match) {
    if (!match.route) {
      if (match.status == 405) {
        auto res = error_response(405, "method_not_allowed", "This path does not accept " + req.method + ".");
        res.set("Allow", match.allow);
        co_return res;
      }
      co_return error_response(404, "not_found", "No such endpoint.");
    }
    const Route& route = *match.route;
    if (route.execution == Execution::network_thread || (route.inline_when && route.inline_when(req)))
      co_return invoke(route, req);
    asio::io_context& target = route.execution == Execution::hashing_pool ? hashing : pool;
    // On a pool thread a response is finished at once: what it would batch with is on the
    // network threads, and a pool thread's batch must not make them wait for each other.
    co_return co_await asio::co_spawn(
        target,
        [&route, &req]() -> asio::awaitable<Response> {
          Response res = invoke(route, req);
          if (res.complete) finish(route, req, res);
          co_return res;
        },
        asio::use_awaitable);
  }

  // Runs a response's completion once; a failure there is a 500, as in invoke().
  static void finish(const Route& route, Request& req, Response& res) {
    const auto complete = std::move(res.complete);
    res.complete = nullptr;
    try {
      complete(res);
      return;
    } catch (const std::exception& e) {
      log::error("handler failed", {{"route", route.pattern}, {"request_id", req.request_id}, {"what", e.what()}});
    } catch (...) {
      log::error("handler failed", {{"route", route.pattern}, {"request_id", req.request_id}});
    }
    auto failed = error_response(500, "server_error", "The server failed to handle the request.");
    failed.rate_limit = res.rate_limit;
    res = std::move(failed);
  }

  // The response head, written by hand into one string: Beast's serializer walks the fields
  // one buffer at a time, which made three more headers (RateLimit-*) cost 5% of a request. The
  // RateLimit-* numbers are formatted here, straight into the head.
  // Header values come from our own code; a CR or LF in one would split the response, so such
  // a header is dropped rather than written.
  // A header whose name or value could end the line (or a name holding ':') is dropped, not
  // sent. One pass per byte: find_first_of calls memchr once per byte, and every response
  // header goes through here.
  // The value (the long part: scopes, tokens' subjects) is scanned with memchr, once per
  // forbidden byte, rather than byte by byte.
  static void append_header(std::string& head, std::string_view name, std::string_view value) {
    for (char c : name)
      if (c == '\r' || c == '\n' || c == ':') return;
    if (!value.empty() &&
        (std::memchr(value.data(), '\r', value.size()) || std::memchr(value.data(), '\n', value.size())))
      return;
    // One resize and two copies rather than four appends (a response has a dozen headers).
    const std::size_t at = head.size();
    head.resize(at + name.size() + value.size() + 4);
    char* p = head.data() + at;
    std::memcpy(p, name.data(), name.size());
    p += name.size();
    *p++ = ':';
    *p++ = ' ';
    if (!value.empty()) std::memcpy(p, value.data(), value.size());
    p += value.size();
    *p++ = '\r';
    *p = '\n';
  }

  static void append_number(std::string& head, std::string_view prefix, std::int64_t value) {
    char digits[24];
    const auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
    head.append(prefix).append(digits, end).append("\r\n");
  }

  template <class Stream>
  asio::awaitable<void> write(Connection& conn, Stream& stream, Response res, unsigned version, bool keep_alive,
                              const std::string& request_id, bool secure) {
    std::string head;
    head.reserve(1024);  // a 200 from /auth/check (six X-Auth-*, RateLimit-*) is ~500 bytes
    head.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(res.status)).push_back(' ');
    head.append(bhttp::obsolete_reason(static_cast<bhttp::status>(res.status))).append("\r\n");
    head.append("Server: gatehouse\r\nX-Content-Type-Options: nosniff\r\n");
    if (secure) append_header(head, "Strict-Transport-Security", kHsts);
    const std::string* type = res.header("Content-Type");
    if (type && type->rfind("text/html", 0) == 0) {
      if (!res.header("Content-Security-Policy")) append_header(head, "Content-Security-Policy", kHtmlCsp);
      head.append("X-Frame-Options: DENY\r\nReferrer-Policy: no-referrer\r\n");
    }
    for (const auto& h : res.headers) append_header(head, h.name, h.value);
    if (res.rate_limit) {
      append_number(head, "RateLimit-Limit: ", res.rate_limit->limit);
      append_number(head, "RateLimit-Remaining: ", res.rate_limit->remaining);
      append_number(head, "RateLimit-Reset: ", res.rate_limit->reset);
    }
    if (!request_id.empty()) append_header(head, "X-Request-Id", request_id);
    if (version >= 11 && !keep_alive) head.append("Connection: close\r\n");
    if (version == 10 && keep_alive) head.append("Connection: keep-alive\r\n");
    // RFC 9110 §8.6: no Content-Length (and no body) for 1xx, 204 and 304.
    const bool bodiless = res.status < 200 || res.status == 204 || res.status == 304;
    if (bodiless) res.body.clear();
    else head.append("Content-Length: ").append(std::to_string(res.body.size())).append("\r\n");
    head.append("\r\n");
    beast::error_code ec;
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(res.body)};
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      // A small response nearly always fits the socket's send buffer: write what the socket
      // takes right now, and arm a deadline only for what is left (a slow reader).
      // (The socket was made non-blocking when accepted; the async operations do not mind.)
      auto& socket = conn.stream.socket();
      std::size_t total = head.size() + res.body.size(), sent = 0;
      while (!ec && sent < total) {
        const std::size_t n = socket.write_some(buffers, ec);
        sent += n;
        if (ec) break;
        // Drop what was written from the front of the two buffers.
        std::size_t left = n;
        for (auto& b : buffers) {
          const std::size_t d = std::min(left, b.size());
          b += d;
          left -= d;
        }
      }
      if (sent == total) co_return;
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) co_return;  // the peer is gone
      ec = {};
    }
    conn.stream.expires_after(options.header_timeout);
    co_await asio::async_write(stream, buffers, asio::redirect_error(asio::use_awaitable, ec));
  }

  template <class Stream>
  asio::awaitable<void> refuse(Connection& conn, Stream& stream, int status, std::string_view code,
                               std::string_view description) {
    co_await write(conn, stream, error_response(status, code, description), 11, false, {}, tls != nullptr);
    beast::error_code ec;
    conn.stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    conn.stream.expires_after(kDrainTimeout);
    std::array<char, 8192> sink;
    std::size_t drained = 0;
    while (drained < kMaxDrainBytes) {
      const std::size_t n =
          co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      drained += n;
    }
  }

  // Re-arms itself while the connection lives; a keep-alive wait that has lasted idle_timeout
  // (header_timeout before the client's first byte) is cancelled (the read then fails and the
  // connection ends). It looks four times per limit, so a wait ends within 1.25 × its limit.
  std::chrono::seconds wait_limit(const Connection& c) const {
    return c.heard ? options.idle_timeout : options.header_timeout;
  }
  void watch_idle(const std::shared_ptr<Connection>& conn) {
    const auto period =
        std::max<std::chrono::steady_clock::duration>(wait_limit(*conn) / 4, std::chrono::milliseconds(50));
    conn->watchdog.expires_after(period);
    conn->watchdog.async_wait([this, weak = std::weak_ptr<Connection>(conn)](const beast::error_code& ec) {
      auto c = weak.lock();
      if (ec || !c) return;
      if (c->idle && std::chrono::steady_clock::now() - c->idle_since >= wait_limit(*c)) {
        beast::error_code ignored;
        c->stream.socket().cancel(ignored);
        return;
      }
      watch_idle(c);
    });
  }

  asio::awaitable<void> session(std::shared_ptr<Connection> conn) {
    beast::error_code ec;
    std::string peer;
    {
      auto endpoint = conn->stream.socket().remote_endpoint(ec);
      if (ec) co_return;
      peer = endpoint.address().to_string();
    }
    watch_idle(conn);
    if (!tls) {
      co_await serve_http(conn, conn->stream, peer);
    } else {
      // The handshake gets the header timeout: a client that connects and says nothing is dropped.
      asio::ssl::stream<beast::tcp_stream&> stream(conn->stream, *tls);
      conn->stream.expires_after(options.header_timeout);
      co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec) {
        co_await serve_http(conn, stream, peer);
        conn->stream.expires_after(kDrainTimeout);
        co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));  // close_notify
      }
    }
    conn->watchdog.cancel();
    conn->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    conn->stream.close();
  }

  // HTTP/1.1 on an open (plain or TLS) stream until the client or the server ends it.
  template <class Stream>
  asio::awaitable<void> serve_http(std::shared_ptr<Connection> conn, Stream& stream, const std::string& peer) {
    beast::error_code ec;
    beast::flat_buffer buffer;
    while (!stopping) {
      if (buffer.size() == 0) {
        // Idle keep-alive: wait for the first byte of the next request (the watchdog ends a
        // wait longer than idle_timeout).
        conn->stream.expires_never();
        conn->idle = true;
        conn->idle_since = std::chrono::steady_clock::now();
        std::size_t n = 0;
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
          // Plain TCP: read the socket itself; the stream's timer layer has nothing to do here.
          n = co_await conn->stream.socket().async_read_some(buffer.prepare(8192),
                                                             asio::redirect_error(asio::use_awaitable, ec));
        } else {
          n = co_await stream.async_read_some(buffer.prepare(8192), asio::redirect_error(asio::use_awaitable, ec));
        }
        conn->idle = false;
        if (ec) break;
        buffer.commit(n);
      }
      conn->heard = true;
      conn->busy = true;
      RequestParser parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body_bytes);
      parser.eager(true);
      // Fast path: the bytes already read usually hold the whole request (one read got it, or
      // it was pipelined). Parse them right here, with no timer and no further read.
      while (buffer.size() > 0 && !parser.is_done()) {
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == bhttp::error::need_more) {
          ec = {};
          break;
        }
        if (ec || used == 0) break;
      }
      if (!ec && !parser.is_done()) {
        // Slow path: more bytes to wait for, under our own deadline rather than the stream's:
        // on expiry the stream closes the socket, and we want to answer 408 first. Cancelling
        // only aborts the pending read.
        struct ReadState {
          bool timed_out{false};
          bool done{false};  // set before the timer is cancelled: a late expiry must not cancel a write
        };
        auto state = std::make_shared<ReadState>();
        asio::steady_timer deadline(conn->stream.get_executor(), options.header_timeout);
        const auto arm = [&] {
          deadline.async_wait([conn, state](const beast::error_code& wait_ec) {
            if (wait_ec || state->done) return;
            state->timed_out = true;
            beast::error_code ignored;
            conn->stream.socket().cancel(ignored);
          });
        };
        arm();
        conn->stream.expires_never();
        if (!parser.is_header_done())
          co_await bhttp::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (!ec && !parser.is_done()) {
          const std::string* expect = parser.request().header("expect");
          if (expect && beast::iequals(*expect, "100-continue")) {
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                       asio::redirect_error(asio::use_awaitable, ec));
          }
          if (!ec) {
            // The body gets a fresh window of the same length.
            deadline.expires_after(options.header_timeout);
            arm();
            co_await bhttp::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
          }
        }
        state->done = true;
        deadline.cancel();
        if (state->timed_out) ec = beast::error::timeout;
      }
      if (ec) {
        if (ec == bhttp::error::header_limit) {
          co_await refuse(*conn, stream, 431, "request_header_fields_too_large",
                          "The request headers exceed " + std::to_string(options.max_header_bytes) + " bytes.");
        } else if (ec == bhttp::error::body_limit) {
          co_await refuse(*conn, stream, 413, "payload_too_large",
                          "The request body exceeds " + std::to_string(options.max_body_bytes) + " bytes.");
        } else if (ec == beast::error::timeout) {
          co_await refuse(*conn, stream, 408, "request_timeout", "The request was not received in time.");
        } else if (ec != bhttp::error::end_of_stream && ec != asio::error::eof &&
                   ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
          const std::string_view why = parser.refusal();
          co_await refuse(*conn, stream, 400, "invalid_request",
                          why.empty() ? "The request is not well-formed HTTP/1.1." : why);
        }
        break;
      }
      const unsigned version = parser.version();
      const bool keep_alive = parser.keep_alive();
      Request req = std::move(parser.request());
      complete(req, peer);
      Response res = co_await dispatch(req);
      co_await write(*conn, stream, std::move(res), version, keep_alive && !stopping, req.request_id, req.secure);
      conn->busy = false;
      if (!keep_alive) break;
    }
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      beast::error_code ec;
      const std::size_t pick = next_context++ % (others.size() + 1);
      asio::io_context& home = pick == 0 ? ioc : *others[pick - 1];
      tcp::socket socket = co_await acceptor.async_accept(home, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (!acceptor.is_open() || stopping) co_return;
        // Out of descriptors or similar: back off instead of spinning.
        asio::steady_timer backoff(ioc, std::chrono::milliseconds(50));
        co_await backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      socket.non_blocking(true, ec);  // lets write() try a direct write first
      std::uint64_t id;
      std::shared_ptr<Connection> conn;
      {
        std::lock_guard lock(mutex);
        if (live.size() >= options.max_connections) {
          socket.close(ec);  // over the cap: refuse rather than run out of descriptors
          continue;
        }
        conn = std::make_shared<Connection>(std::move(socket));
        id = next_id++;
        live.emplace(id, conn);
      }
      asio::co_spawn(conn->stream.get_executor(), session(conn), [this, id](std::exception_ptr) {
        std::lock_guard lock(mutex);
        live.erase(id);
      });
    }
  }

  void begin_shutdown() {
    stopping = true;
    asio::post(ioc, [this] {
      beast::error_code ec;
      acceptor.close(ec);
      signals.cancel();
    });
    std::lock_guard lock(mutex);
    for (auto& [id, weak] : live) {
      if (auto conn = weak.lock()) {
        asio::post(conn->stream.get_executor(), [conn] {
          if (!conn->busy) conn->stream.cancel();  // idle: end its wait for a next request
        });
      }
    }
  }
};

Server::Server(ServerOptions options, const Router& router) : impl_(std::make_unique<Impl>(std::move(options), router)) {}
Server::~Server() = default;

Result<std::uint16_t, std::string> Server::listen() {
  if (auto loaded = impl_->load_tls(); !loaded) return unexpected(loaded.error());
  auto& acceptor = impl_->acceptor;
  beast::error_code ec;
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return unexpected("server.listen: \"" + impl_->options.host + "\" is not an IP address");
  const tcp::endpoint endpoint{address, impl_->options.port};
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return unexpected("cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) +
                            ": " + ec.message());
  return acceptor.local_endpoint().port();
}

void Server::run() {
  auto& impl = *impl_;
  impl.signals.async_wait([this](const beast::error_code& ec, int) {
    if (!ec) stop();
  });
  asio::co_spawn(impl.ioc, impl.accept_loop(), asio::detached);

  std::vector<std::thread> threads;
  for (int i = 0; i < std::max(1, impl.options.blocking_threads); ++i) {
    threads.emplace_back([&impl] {
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kBlockingPoolNice);
      impl.pool.run();
    });
  }
  for (int i = 0; i < std::max(1, impl.options.hashing_threads); ++i) {
    threads.emplace_back([&impl] {
      setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kHashingPoolNice);
      impl.hashing.run();
    });
  }
  const std::size_t pool_threads = threads.size();
  threads.emplace_back([&impl] { impl.ioc.run(); });
  for (auto& ctx : impl.others) threads.emplace_back([&ctx] { ctx->run(); });

  {
    std::unique_lock lock(impl.mutex);
    impl.stop_cv.wait(lock, [&] { return impl.stop_requested; });
  }
  impl.begin_shutdown();
  const auto deadline = std::chrono::steady_clock::now() + impl.options.shutdown_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(impl.mutex);
      if (impl.live.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  impl.ioc.stop();
  impl.others_work.clear();
  for (auto& ctx : impl.others) ctx->stop();
  for (std::size_t i = pool_threads; i < threads.size(); ++i) threads[i].join();
  impl.pool_work.reset();
  impl.pool.stop();
  impl.hashing_work.reset();
  impl.hashing.stop();
  for (std::size_t i = 0; i < pool_threads; ++i) threads[i].join();
}

bool Server::tls() const { return impl_->tls != nullptr; }

void Server::stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stop_requested = true;
  impl_->stop_cv.notify_all();
}

}  // namespace gatehouse::http
