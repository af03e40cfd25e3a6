// tests/support/postgres_server.h: a real PostgreSQL 15 (Debian's postgresql package) for
// the tests that need one: a fresh cluster in a temporary directory, on a free loopback port,
// password (SCRAM) authentication, stopped and deleted when the object goes. Run as root,
// the cluster belongs to the unprivileged `postgres` user (initdb refuses root).
#pragma once
#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/random.h"
#include "store/postgres/libpq_loader.h"
#include "support/temp_store.h"

namespace gatehouse::testing {

class PostgresServer {
 public:
  PostgresServer() { start(); }
  ~PostgresServer() {
    if (started_) run(pg_ctl() + " -D " + data() + " -m immediate -w stop");
  }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool ok() const { return started_; }
  const std::string& error() const { return error_; }  // why it did not start
  int port() const { return port_; }
  const std::string& password() const { return password_; }
  // postgresql://gatehouse:<password>@127.0.0.1:<port>/postgres
  std::string url() const {
    return "postgresql://gatehouse:" + password_ + "@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  // The same without the password (for GATEHOUSE_STORAGE_PASSWORD_FILE and libpq's own lookups).
  std::string url_without_password() const {
    return "postgresql://gatehouse@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  const std::string& dir() const { return dir_.path(); }

  // Creates an empty database `name` (letters, digits, underscores) and returns its URL, or ""
  // with the reason in `error`. Tests that want isolation make one each.
  std::string create_database(const std::string& name, std::string& error) const {
    PGconn* admin = PQconnectdb(url().c_str());
    PGresult* created = PQexec(admin, ("CREATE DATABASE " + name).c_str());
    const bool made = PQresultStatus(created) == PGRES_COMMAND_OK;
    if (!made) error = PQerrorMessage(admin);
    PQclear(created);
    PQfinish(admin);
    if (!made) return {};
    return "postgresql://gatehouse:" + password_ + "@127.0.0.1:" + std::to_string(port_) + "/" + name;
  }

 private:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin/";

  std::string data() const { return dir_.path() + "/data"; }
  static std::string pg_ctl() { return std::string(kBin) + "pg_ctl"; }
  // As root, commands run as `postgres`; otherwise as ourselves.
  int run(const std::string& command) const {
    const std::string as = geteuid() == 0 ? "runuser -u postgres -- " : "";
    return std::system((as + command + " >>" + dir_.path() + "/commands.log 2>&1").c_str());
  }

  static int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port = ntohs(addr.sin_port);
    if (fd >= 0) close(fd);
    return port;
  }

  void start() {
    // The tests call libpq directly too; the backend loads it on first use (libpq_loader.h).
    if (std::string why; !store::postgres::load_libpq(&why)) {
      error_ = why;
      return;
    }
    if (!std::filesystem::exists(std::string(kBin) + "initdb")) {
      error_ = std::string(kBin) + "initdb is missing: run scripts/install-deps.sh (package postgresql)";
      return;
    }
    password_ = random_base62(24);
    {
      std::ofstream pw(dir_.path() + "/pw");
      pw << password_ << "\n";
    }
    std::filesystem::permissions(dir_.path() + "/pw", std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    if (geteuid() == 0 && std::system(("chown -R postgres:postgres " + dir_.path()).c_str()) != 0) {
      error_ = "cannot hand the cluster directory to the postgres user";
      return;
    }
    if (run(std::string(kBin) + "initdb -D " + data() + " -U gatehouse -A scram-sha-256 --pwfile=" + dir_.path() +
            "/pw --no-sync -E UTF8 --locale=C") != 0) {
      error_ = "initdb failed; see " + dir_.path() + "/commands.log";
      return;
    }
    std::filesystem::remove(dir_.path() + "/pw");
    // A port taken between free_port() and the start is retried.
    for (int attempt = 0; attempt < 5 && !started_; ++attempt) {
      port_ = free_port();
      started_ = run(pg_ctl() + " -D " + data() + " -w -t 60 -l " + dir_.path() + "/server.log -o \"-c listen_addresses=127.0.0.1 -p " +
                     std::to_string(port_) + " -k " + dir_.path() + " -c max_connections=60\" start") == 0;
    }
    if (!started_) error_ = "pg_ctl start failed; see " + dir_.path() + "/server.log";
  }

  TempDir dir_;
  std::string password_;
  int port_{0};
  bool started_{false};
  std::string error_;
};

}  // namespace gatehouse::testing
