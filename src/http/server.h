// http/server.h: the HTTP/1.1 server. Beast and Asio live only in server.cc.
// N network threads parse, route and write; handlers marked blocking_pool (store round
// trips) or hashing_pool (argon2id) run on separate pools of niced threads, so neither
// stalls the network threads and a login storm does not queue ahead of store-only requests.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "http/router.h"

namespace gatehouse::http {

struct ServerOptions {
  std::string host{"127.0.0.1"};
  std::uint16_t port{8080};
  int network_threads{1};
  int blocking_threads{1};
  int hashing_threads{1};
  // Connections beyond this are closed at accept.
  std::size_t max_connections{10000};
  std::size_t max_body_bytes{64 * 1024};
  std::size_t max_header_bytes{16 * 1024};
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds idle_timeout{60};
  std::chrono::seconds shutdown_timeout{10};
  // Peers whose X-Forwarded-For is believed for the client address.
  std::vector<std::string> trusted_proxies{};
  // PEM files; both set: HTTPS only (TLS 1.2 and 1.3, forward-secret AEAD ciphers, HSTS).
  std::string tls_cert_file{};
  std::string tls_key_file{};
};

class Server {
 public:
  Server(ServerOptions options, const Router& router);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens; returns the bound port (useful with port 0).
  Result<std::uint16_t, std::string> listen();
  // Serves until SIGTERM/SIGINT or stop(); then stops accepting, lets in-flight requests
  // finish (up to shutdown_timeout) and returns.
  void run();
  // Thread-safe; may be called from any thread.
  void stop();
  // Serving HTTPS (after listen()).
  bool tls() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::http
