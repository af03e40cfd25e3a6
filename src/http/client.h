// http/client.h: server-to-server HTTPS requests, for talking to upstream identity providers
// (discovery documents, JWKS, token and userinfo endpoints). Beast and Asio live only in
// client.cc.
// - TLS 1.2+ with the peer's certificate chain verified against the system CA store, or a CA
//   file given instead, and its name checked against the URL's host (DNS name or IP address).
// - One deadline for the whole exchange: resolve, connect, handshake, write, read.
// - A cap on the response body; bigger answers fail before they are read in full.
// - Plain http:// only when the options allow it (tests on loopback). Never follows redirects.
// Blocking: call it from a blocking-pool handler, never from a network thread.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "http/message.h"

namespace gatehouse::http {

struct ClientOptions {
  std::string ca_file{};  // PEM bundle; empty: the system CA store
  std::chrono::milliseconds timeout{10'000};
  std::size_t max_body_bytes{1024 * 1024};
  bool allow_plain_http{false};
};

struct ClientRequest {
  std::string method{"GET"};
  std::string url{};                // https://host[:port]/path?query
  std::vector<Header> headers{};    // names as given; Host, Content-Length and Connection are set here
  std::string body{};
};

struct ClientResponse {
  int status{0};
  std::vector<Header> headers{};  // names lower-cased
  std::string body{};
  const std::string* header(std::string_view name) const;  // case-insensitive
};

enum class ClientErrc {
  bad_url,      // not an absolute https:// URL (or http:// where not allowed)
  unreachable,  // resolving or connecting failed
  tls,          // handshake failed: untrusted certificate, wrong name, protocol
  timeout,      // the deadline passed
  too_large,    // the body (or the header) is over the limit
  protocol,     // not a valid HTTP/1.1 response
};

struct ClientError {
  ClientErrc code;
  std::string message;  // names the host, never a header or body value
};

class HttpClient {
 public:
  // Fails if the CA file cannot be read.
  static Result<HttpClient, std::string> create(ClientOptions options);
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // Thread-safe: each call has its own connection.
  Result<ClientResponse, ClientError> send(const ClientRequest& request) const;

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::http
