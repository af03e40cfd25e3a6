// The outbound HTTPS client against a real TLS server that is not ours: `openssl s_server -www`,
// with certificates from a test CA made here by the openssl CLI. Trust comes only from the CA
// file given (or the system store, which does not know the test CA); names are checked.
#include "http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "support/temp_store.h"

namespace gatehouse::http {
namespace {

using namespace std::chrono_literals;

int run(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()); }

// A CA and a server certificate it signed, for `names` (subjectAltName entries).
struct Pki {
  explicit Pki(const std::string& dir, const std::string& names) : dir_(dir) {
    const std::string d = dir_ + "/";
    ok = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-ca -keyout " +
             d + "ca.key -out " + d + "ca.pem") == 0 &&
         run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=server -keyout " + d +
             "server.key -out " + d + "server.csr") == 0 &&
         static_cast<bool>(std::ofstream(d + "ext.cnf") << "subjectAltName=" << names << "\n" << std::flush) &&
         run("openssl x509 -req -in " + d + "server.csr -CA " + d + "ca.pem -CAkey " + d +
             "ca.key -CAcreateserial -days 2 -extfile " + d + "ext.cnf -out " + d + "server.pem") == 0;
  }
  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string cert() const { return dir_ + "/server.pem"; }
  std::string key() const { return dir_ + "/server.key"; }
  bool ok{false};

 private:
  std::string dir_;
};

int bound_socket(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

int free_port() {
  int port = 0;
  close(bound_socket(&port));
  return port;
}

bool accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// `openssl s_server -www` on a free loopback port: answers any GET with an HTTP/1.0 200 page
// that describes the TLS session, ended by closing the connection.
class TlsServer {
 public:
  TlsServer(const Pki& pki) : port_(free_port()) {
    pid_ = fork();
    if (pid_ == 0) {
      const std::string accept = "127.0.0.1:" + std::to_string(port_);
      freopen("/dev/null", "w", stdout);
      freopen("/dev/null", "w", stderr);
      execlp("openssl", "openssl", "s_server", "-quiet", "-www", "-accept", accept.c_str(), "-cert",
             pki.cert().c_str(), "-key", pki.key().c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 200 && !accepts(port_); ++i) std::this_thread::sleep_for(20ms);
  }
  ~TlsServer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_{-1};
};

HttpClient client(ClientOptions options) {
  auto made = HttpClient::create(std::move(options));
  EXPECT_TRUE(made) << made.error();
  return std::move(*made);
}

class HttpClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    run("mkdir -p " + dir_->path() + "/trusted " + dir_->path() + "/other " + dir_->path() + "/wrong");
    trusted_ = new Pki(dir_->path() + "/trusted", "IP:127.0.0.1,DNS:localhost");
    other_ = new Pki(dir_->path() + "/other", "IP:127.0.0.1,DNS:localhost");
    wrong_name_ = new Pki(dir_->path() + "/wrong", "DNS:upstream.example");
  }
  static void TearDownTestSuite() {
    delete trusted_;
    delete other_;
    delete wrong_name_;
    delete dir_;
  }
  void SetUp() override { ASSERT_TRUE(trusted_->ok && other_->ok && wrong_name_->ok) << "openssl could not make the test PKI"; }

  static testing::TempDir* dir_;
  static Pki* trusted_;
  static Pki* other_;
  static Pki* wrong_name_;
};
testing::TempDir* HttpClientTest::dir_ = nullptr;
Pki* HttpClientTest::trusted_ = nullptr;
Pki* HttpClientTest::other_ = nullptr;
Pki* HttpClientTest::wrong_name_ = nullptr;

TEST_F(HttpClientTest, TalksToAServerItsCaFileVouchesFor) {
  TlsServer server(*trusted_);
  const auto c = client({.ca_file = trusted_->ca()});
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    auto r = c.send({.url = "https://" + host + ":" + std::to_string(server.port()) + "/discovery?x=1"});
    ASSERT_TRUE(r) << host << ": " << (r ? "" : r.error().message);
    EXPECT_EQ(r->status, 200);
    EXPECT_NE(r->body.find("s_server -quiet -www"), std::string::npos) << "the page s_server makes, read to its end";
    ASSERT_NE(r->header("Content-Type"), nullptr);
  }
}

TEST_F(HttpClientTest, RefusesACertificateFromAnUnknownCa) {
  TlsServer server(*other_);
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  for (const auto& options : {ClientOptions{.ca_file = trusted_->ca()}, ClientOptions{}}) {  // test CA; system store
    auto r = client(options).send({.url = url});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, ClientErrc::tls) << r.error().message;
    EXPECT_NE(r.error().message.find("certificate"), std::string::npos) << r.error().message;
  }
}

TEST_F(HttpClientTest, RefusesACertificateForAnotherName) {
  TlsServer server(*wrong_name_);
  auto r = client({.ca_file = wrong_name_->ca()}).send({.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ClientErrc::tls) << r.error().message;
  auto by_name = client({.ca_file = wrong_name_->ca()}).send({.url = "https://localhost:" + std::to_string(server.port()) + "/"});
  ASSERT_FALSE(by_name);
  EXPECT_EQ(by_name.error().code, ClientErrc::tls) << by_name.error().message;
}

TEST_F(HttpClientTest, AnAnswerOverTheLimitIsRefused) {
  TlsServer server(*trusted_);
  auto r = client({.ca_file = trusted_->ca(), .max_body_bytes = 64})
               .send({.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ClientErrc::too_large) << r.error().message;
}

TEST_F(HttpClientTest, AServerThatNeverAnswersTimesOut) {
  int port = 0;
  const int fd = bound_socket(&port);
  ASSERT_EQ(listen(fd, 4), 0);  // the kernel completes connections; nobody ever speaks TLS
  const auto start = std::chrono::steady_clock::now();
  auto r = client({.ca_file = trusted_->ca(), .timeout = 300ms}).send({.url = "https://127.0.0.1:" + std::to_string(port) + "/"});
  const auto waited = std::chrono::steady_clock::now() - start;
  close(fd);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ClientErrc::timeout) << r.error().message;
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 3s);
}

TEST_F(HttpClientTest, ANobodyThereIsUnreachable) {
  auto r = client({.ca_file = trusted_->ca()}).send({.url = "https://127.0.0.1:" + std::to_string(free_port()) + "/"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ClientErrc::unreachable) << r.error().message;
}

TEST_F(HttpClientTest, OnlyPlainHttpsUrlsAreTaken) {
  const auto c = client({.ca_file = trusted_->ca()});
  for (const std::string url : {"http://127.0.0.1/", "ftp://127.0.0.1/", "https://user:pw@127.0.0.1/", "/relative",
                                "https://127.0.0.1/#frag", "not a url"}) {
    auto r = c.send({.url = url});
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().code, ClientErrc::bad_url) << url;
    EXPECT_EQ(r.error().message.find("pw"), std::string::npos) << r.error().message;
  }
}

TEST_F(HttpClientTest, AMissingCaFileIsAnErrorAtCreation) {
  auto made = HttpClient::create({.ca_file = dir_->path() + "/no-such-ca.pem"});
  ASSERT_FALSE(made);
  EXPECT_NE(made.error().find("no-such-ca.pem"), std::string::npos) << made.error();
}

}  // namespace
}  // namespace gatehouse::http
