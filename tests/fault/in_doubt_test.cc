// A connection lost during COMMIT: the service cannot know whether the batch committed, so it
// must not acknowledge it; the producer's resend must not count it twice. A TCP proxy between
// sonar-ingest and PostgreSQL forwards everything, but after forwarding a COMMIT it cuts the
// connection before the answer comes back — so those batches did commit, unacknowledged. A
// publication cut the same way must say that its revision may be stored: publishing again blindly
// would store a second one.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <thread>

#include "service/sonarctl_ingest.h"
#include "storage/pg_publication_store.h"
#include "storage/pg_verifier.h"
#include "tests/support/populations.h"
#include "tests/support/server_process.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;

class CommitCuttingProxy final {
 public:
  CommitCuttingProxy(int upstream_port, int cuts)
      : upstream_port_(upstream_port), cuts_left_(cuts) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    listen(listener_, 64);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~CommitCuttingProxy() {
    stop_ = true;
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    acceptor_.join();
    for (auto& t : bridges_) t.join();
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int cuts_done() const { return cuts_done_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      const int client = accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      const int server = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(upstream_port_));
      if (connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        close(client);
        close(server);
        continue;
      }
      // Without TCP_NODELAY, Nagle and delayed ACKs add ~40 ms to every round trip.
      const int one = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      bridges_.emplace_back([this, client, server] { Bridge(client, server); });
    }
  }

  void Bridge(int client, int server) {
    pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    char buf[65536];
    while (!stop_) {
      if (poll(fds, 2, 100) <= 0) continue;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = read(client, buf, sizeof buf);
        if (n <= 0) break;
        if (write(server, buf, n) != n) break;
        // A simple-protocol Query message 'Q' carrying "COMMIT".
        if (memmem(buf, n, "COMMIT", 6) != nullptr && cuts_left_.fetch_sub(1) > 0) {
          std::this_thread::sleep_for(100ms);  // PostgreSQL commits meanwhile
          ++cuts_done_;
          break;  // ... and the answer never reaches the service
        }
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        const ssize_t n = read(server, buf, sizeof buf);
        if (n <= 0) break;
        if (write(client, buf, n) != n) break;
      }
    }
    close(client);
    close(server);
  }

  int upstream_port_;
  std::atomic<int> cuts_left_;
  std::atomic<int> cuts_done_{0};
  std::atomic<bool> stop_{false};
  int listener_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> bridges_;
};

// The database's port in `url`, and `url` with another port.
int PortOf(const std::string& url) {
  const size_t host = url.find("@127.0.0.1:") + 11;
  return std::stoi(url.substr(host, url.find('/', host) - host));
}
std::string WithPort(std::string url, int port) {
  const size_t host = url.find("@127.0.0.1:") + 11;
  return url.replace(host, url.find('/', host) - host, std::to_string(port));
}

TEST(Faults, ConnectionLostDuringCommitIsNeverAcknowledgedNorCountedTwice) {
  testing::TestDatabase db;  // migrated directly, not through the proxy
  const std::string url = db.url();
  CommitCuttingProxy proxy(PortOf(url), 3);
  const std::string proxied = WithPort(url, proxy.port());

  const sim::Population population = testing::ScaledZeeland(3, 606);
  const std::vector<v1::Event> events = testing::ToProtoShuffled(population.events, 6);
  testing::ServerProcess ingest =
      testing::StartServer("sonar-ingest", {"--database-url", proxied, "--plaintext"});
  service::IngestSummary summary;
  std::ostringstream errors;
  EXPECT_TRUE(service::StreamEvents(ingest.addr, events, 100, 2, summary, errors, 30))
      << errors.str();
  EXPECT_EQ(proxy.cuts_done(), 3);
  EXPECT_GE(summary.reconnects, 1u);
  // The cut batches had committed; their resends came back as duplicates.
  EXPECT_GT(summary.duplicates, 0u);
  EXPECT_EQ(summary.accepted + summary.duplicates, events.size());
  auto report = storage::VerifyCounters(url);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->events, static_cast<int64_t>(events.size()));
  const std::string log = testing::ReadFile(ingest.log);
  EXPECT_NE(log.find("outcome of COMMIT unknown"), std::string::npos) << log.substr(0, 2000);
}

TEST(Faults, PublicationWhoseCommitOutcomeIsUnknownSaysToCheckTheLatestRevision) {
  testing::TestDatabase db;
  CommitCuttingProxy proxy(PortOf(db.url()), 1);
  storage::PgConnection connection(WithPort(db.url(), proxy.port()));
  storage::PgPublicationStore publications(connection);
  auto published = publications.Publish({2022, 3}, [](std::span<const core::CounterRow>) {
    return std::vector<core::RegionFigures>{};
  });
  EXPECT_EQ(proxy.cuts_done(), 1);
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.status().code(), absl::StatusCode::kUnavailable);
  const std::string message(published.status().message());
  EXPECT_NE(message.find("outcome of COMMIT unknown"), std::string::npos) << message;
  EXPECT_NE(message.find("check the latest revision"), std::string::npos) << message;
  // It did commit: publishing again without looking would make a second revision.
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM publications"), "1");
}

}  // namespace
}  // namespace sonar
