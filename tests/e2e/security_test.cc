// TLS, mutual TLS and roles, with a throwaway CA made by openssl.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ReadFile;

// A CA, a server certificate for 127.0.0.1/localhost and a client certificate (CN query-client).
std::string MakeCertificates() {
  const std::string dir = testing::MakeTempDir("pki");
  std::ofstream(dir + "/server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
  const std::string script =
      "cd " + dir +
      " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2"
      " -subj /CN=sonar-test-ca"
      " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr"
      " -subj /CN=localhost"
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
      " -out server.pem -days 2 -extfile server.ext"
      " && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr"
      " -subj /CN=query-client"
      " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
      " -out client.pem -days 2 >/dev/null 2>&1";
  EXPECT_EQ(std::system((script + " >/dev/null 2>&1").c_str()), 0);
  return dir;
}

using Server = testing::ServerProcess;

Server Start(const std::string& program, std::vector<std::string> args) {
  return testing::StartServer(program, std::move(args));
}

int Ctl(std::vector<std::string> args, std::string& out) {
  return testing::RunProgram(BinaryPath("sonarctl"), args, out, 30s);
}

const char* kIngestToken = "ingest-token-5f1c0d9e8a7b";
const char* kQueryToken = "query-token-2b3c4d5e6f70";
const char* kAdminToken = "admin-token-9a8b7c6d5e4f";

TEST(Security, PlaintextMustBeAskedFor) {
  testing::TestDatabase db;
  std::string out;
  const int code =
      testing::RunProgram(BinaryPath("sonar-ingest"),
                          {"--database-url", db.url(), "--listen", "127.0.0.1:0"}, out, 20s);
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("--plaintext"), std::string::npos) << out;
  // Nor is a client CA silently ignored under --plaintext (it was, logged as mutual TLS).
  const int with_ca = testing::RunProgram(BinaryPath("sonar-ingest"),
                                          {"--database-url", db.url(), "--listen", "127.0.0.1:0",
                                           "--plaintext", "--tls-client-ca", "/nonexistent/ca.pem"},
                                          out, 20s);
  EXPECT_EQ(with_ca, 2) << out;
  EXPECT_NE(out.find("exclude each other"), std::string::npos) << out;
}

TEST(Security, TlsTokensAndClientCertificatesGrantRoles) {
  testing::TestDatabase db;
  const std::string pki = MakeCertificates();
  std::ofstream(pki + "/auth") << "# test roles\n"
                               << "token " << kIngestToken << " ingest\n"
                               << "token " << kQueryToken << " query\n"
                               << "token " << kAdminToken << " query,admin\n"
                               << "cn query-client query\n";
  for (const auto& [name, token] :
       {std::pair{"ingest", kIngestToken}, {"query", kQueryToken}, {"admin", kAdminToken}}) {
    std::ofstream(pki + "/" + name + ".token") << token << "\n";
  }
  Server ingest =
      Start("sonar-ingest", {"--database-url", db.url(), "--tls-cert", pki + "/server.pem",
                             "--tls-key", pki + "/server.key", "--auth-file", pki + "/auth"});
  Server query =
      Start("sonar-query", {"--database-url", db.url(), "--tls-cert", pki + "/server.pem",
                            "--tls-key", pki + "/server.key", "--tls-client-ca", pki + "/ca.pem",
                            "--auth-file", pki + "/auth"});
  const std::string events = pki + "/events.ndjson";
  std::string out;
  ASSERT_EQ(Ctl({"generate-seed", "--no-noise", "--out", events}, out), 0);
  const std::vector<std::string> tls = {"--tls-ca", pki + "/ca.pem"};
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };

  // Ingest: the ingest token may, the query token may not, no token is unauthenticated,
  // plaintext does not connect at all.
  EXPECT_EQ(Ctl(with(with(tls, {"--token-file", pki + "/ingest.token", "--addr", ingest.addr}),
                     {"ingest", "--file", events, "--retries", "0"}),
                out),
            0)
      << out;
  EXPECT_NE(Ctl(with(with(tls, {"--token-file", pki + "/query.token", "--addr", ingest.addr}),
                     {"ingest", "--file", events, "--retries", "0"}),
                out),
            0);
  EXPECT_NE(out.find("needs the 'ingest' role (code 7)"), std::string::npos) << out;
  EXPECT_NE(
      Ctl(with(with(tls, {"--addr", ingest.addr}), {"ingest", "--file", events, "--retries", "0"}),
          out),
      0);
  EXPECT_NE(out.find("(code 16)"), std::string::npos) << out;
  EXPECT_NE(Ctl({"--addr", ingest.addr, "ingest", "--file", events, "--retries", "0"}, out), 0);

  // Query requires a client certificate (mutual TLS); its CN grants the query role.
  const std::vector<std::string> client_cert = {"--tls-cert", pki + "/client.pem", "--tls-key",
                                                pki + "/client.key"};
  const std::vector<std::string> report = {"report", "--region", "29", "--quarter", "2022-Q3"};
  EXPECT_EQ(Ctl(with(with(with(tls, client_cert), {"--addr", query.addr}), report), out), 0) << out;
  EXPECT_NE(out.find("2.671"), std::string::npos) << out;
  EXPECT_NE(
      Ctl(with(with(tls, {"--token-file", pki + "/query.token", "--addr", query.addr}), report),
          out),
      0);  // no client certificate: the handshake fails
  const std::vector<std::string> publish = {"publish", "--quarter", "2022-Q3"};
  EXPECT_NE(Ctl(with(with(with(tls, client_cert), {"--addr", query.addr}), publish), out), 0);
  EXPECT_NE(out.find("needs the 'admin' role"), std::string::npos) << out;
  EXPECT_EQ(Ctl(with(with(with(tls, client_cert),
                          {"--token-file", pki + "/admin.token", "--addr", query.addr}),
                     publish),
                out),
            0)
      << out;

  for (Server* s : {&ingest, &query}) {
    s->process->Signal(SIGTERM);
    EXPECT_EQ(s->process->Wait(20s), 0);
    const std::string log = ReadFile(s->log);
    for (const char* secret : {kIngestToken, kQueryToken, kAdminToken}) {
      EXPECT_EQ(log.find(secret), std::string::npos) << "a token leaked into a log";
    }
    EXPECT_NE(log.find("\"event\":\"call_refused\""), std::string::npos);
  }
}

}  // namespace
}  // namespace sonar
