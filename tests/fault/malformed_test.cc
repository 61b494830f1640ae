// Malformed and abusive input against the real sonar-ingest process:
//   - the checked-in corpus tests/data/malformed/ (raw request bodies written by
//     fuzz/make_corpus.cc; see its MANIFEST) sent as raw bytes with a generic stub, so undecodable
//     bodies reach the server, on IngestBatch and on the Ingest stream: each gets its documented
//     gRPC code (INVALID_ARGUMENT for an undecodable body, on the stream after the acks of the
//     batches before it) or its per-event rejections, and no injected value (BSN-like refs, marker
//     strings, an unknown municipality code, invalid UTF-8 bytes) comes back in a status message or
//     a response, or appears in the server's log;
//   - bodies generated here: over the 16 MiB receive limit, 100,000 and 10,001 events;
//   - 1,000 concurrent streams, a client that never reads its acks, huge metadata;
// and after each, the process is alive, memory bounded and `sonarctl health` answers.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "sonar/v1/ingest.grpc.pb.h"
#include "tests/support/process.h"
#include "tests/support/server_process.h"
#include "tests/support/test_database.h"

namespace sonar {
namespace {

using namespace std::chrono_literals;
using testing::BinaryPath;
using testing::ReadFile;
using testing::ServerProcess;

const std::string kCorpusDir = std::string(SONAR_TEST_DATA_DIR) + "/malformed";
constexpr const char* kIngestBatch = "/sonar.v1.IngestService/IngestBatch";
constexpr const char* kIngest = "/sonar.v1.IngestService/Ingest";

// Values the corpus injects (fuzz/make_corpus.cc) and this test adds; none may ever come back or
// be logged.
const std::vector<std::string>& Secrets() {
  static const std::vector<std::string> secrets = {"ZZLEAKREF",
                                                   "ZZLEAKMUNI",
                                                   "ZZLEAKHDR",
                                                   "123456782",
                                                   "111.222.333",
                                                   "9876 543 21",
                                                   "123-456-782",
                                                   "GM9999",
                                                   "gm0654",
                                                   "ZZUT8X1",
                                                   "ZZUTF8PLACEHOL2",
                                                   "ZZUTF8PLACEH3",
                                                   std::string("\xC3\x28\xA0\xA1", 4),
                                                   std::string("\xFF\xFE\xFD", 3),
                                                   std::string("\xED\xA0\x80", 3)};
  return secrets;
}

void ExpectNoSecret(const std::string& text, const std::string& where) {
  for (const std::string& s : Secrets()) {
    EXPECT_EQ(text.find(s), std::string::npos) << "an injected value leaked into " << where;
  }
}

ServerProcess StartIngest(const std::string& url) {
  // Keeps gRPC initialised for the whole test binary: otherwise destroying the last channel runs
  // grpc_shutdown, which can wait ~10 s for its executor threads.
  static const bool grpc_initialised = [] {
    grpc_init();
    return true;
  }();
  (void)grpc_initialised;
  return testing::StartServer("sonar-ingest", {"--database-url", url, "--plaintext"});
}

// True if the process has not exited (Wait reaps it and returns its exit code if it has).
bool Alive(const ServerProcess& s) { return s.process->Wait(10ms) == -1; }

int Health(const std::string& addr) {
  std::string out;
  return testing::RunProgram(BinaryPath("sonarctl"), {"--addr", addr, "health"}, out, 10s);
}

int64_t RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

grpc::StatusCode CodeByName(const std::string& name) {
  static const std::map<std::string, grpc::StatusCode> codes = {
      {"OK", grpc::StatusCode::OK},
      {"INVALID_ARGUMENT", grpc::StatusCode::INVALID_ARGUMENT},
      {"RESOURCE_EXHAUSTED", grpc::StatusCode::RESOURCE_EXHAUSTED},
      {"INTERNAL", grpc::StatusCode::INTERNAL},
      {"UNAVAILABLE", grpc::StatusCode::UNAVAILABLE}};
  const auto it = codes.find(name);
  EXPECT_NE(it, codes.end()) << "unknown code in MANIFEST: " << name;
  return it == codes.end() ? grpc::StatusCode::UNKNOWN : it->second;
}

struct ManifestEntry {
  std::string name;  // a file, or @generated
  grpc::StatusCode code;
  std::vector<std::string> outcomes;  // per event: ok, duplicate or a rejection code
  bool undecodable() const { return outcomes.size() == 1 && outcomes[0] == "undecodable"; }
};

constexpr const char* kUndecodableReason = "request body is not a valid sonar.v1.IngestRequest";

std::vector<ManifestEntry> ReadManifest() {
  std::vector<ManifestEntry> entries;
  std::istringstream in(ReadFile(kCorpusDir + "/MANIFEST"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    ManifestEntry e;
    std::string code;
    words >> e.name >> code;
    e.code = CodeByName(code);
    for (std::string w; words >> w;) e.outcomes.push_back(w);
    entries.push_back(std::move(e));
  }
  return entries;
}

std::string ReadBinary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// `n` distinct valid events in one request (generated, not checked in).
std::string ManyEvents(int n, const std::string& prefix) {
  v1::IngestRequest r;
  r.set_batch_id(1);
  for (int i = 0; i < n; ++i) {
    v1::Event* e = r.add_events();
    e->set_event_id(prefix + std::to_string(i));
    e->set_source("malformed");
    e->set_client_ref("GeneratedPersonRef" + std::to_string(i));
    e->mutable_occurred_at()->set_seconds(1651399200);
    e->mutable_target_group_entered()->set_municipality_code("GM0654");
  }
  return r.SerializeAsString();
}

std::string Body(const ManifestEntry& e) {
  if (e.name == "@oversize-17MiB") {
    // One event whose client_ref alone is 17 MiB: well-formed protobuf, just too large.
    v1::IngestRequest r;
    v1::Event* ev = r.add_events();
    ev->set_event_id("oversize");
    ev->set_client_ref(std::string(17 << 20, 'A') + "ZZLEAKREF");
    return r.SerializeAsString();
  }
  if (e.name == "@events-100000") return ManyEvents(100'000, "big-");
  if (e.name == "@events-10001") return ManyEvents(10'001, "limit-");
  EXPECT_NE(e.name[0], '@') << "unknown generated item " << e.name;
  return ReadBinary(kCorpusDir + "/" + e.name);
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.TrySingleSlice(&slice).ok() && !buffer.DumpToSingleSlice(&slice).ok()) return {};
  return {reinterpret_cast<const char*>(slice.begin()), slice.size()};
}

struct RawResult {
  grpc::Status status;
  std::vector<std::string> responses;  // serialized IngestResponse messages
};

// The unary IngestBatch with a raw body.
RawResult CallUnary(grpc::GenericStub& stub, const std::string& body) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  grpc::ByteBuffer request = ToByteBuffer(body), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, kIngestBatch, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) { done.set_value(std::move(s)); });
  RawResult result;
  result.status = done.get_future().get();
  if (result.status.ok()) result.responses.push_back(FromByteBuffer(response));
  return result;
}

// The Ingest stream with raw request bodies, then half-close; every response until the end.
RawResult CallStream(grpc::GenericStub& stub, const std::vector<std::string>& bodies) {
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 60s);
  auto call = stub.PrepareCall(&ctx, kIngest, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](void* expected) {
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(tag, expected);
    return ok;
  };
  RawResult result;
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(reinterpret_cast<void*>(1))) {
    bool written = true;
    for (const std::string& body : bodies) {
      grpc::ByteBuffer request = ToByteBuffer(body);
      call->Write(request, reinterpret_cast<void*>(2));
      if (!(written = step(reinterpret_cast<void*>(2)))) break;
    }
    if (written) {
      call->WritesDone(reinterpret_cast<void*>(3));
      step(reinterpret_cast<void*>(3));
    }
    grpc::ByteBuffer response;
    for (;;) {
      call->Read(&response, reinterpret_cast<void*>(4));
      if (!step(reinterpret_cast<void*>(4))) break;
      result.responses.push_back(FromByteBuffer(response));
    }
  }
  call->Finish(&result.status, reinterpret_cast<void*>(5));
  step(reinterpret_cast<void*>(5));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return result;
}

void ExpectOutcomes(const ManifestEntry& e, const RawResult& r, const std::string& what) {
  ASSERT_EQ(r.responses.size(), e.code == grpc::StatusCode::OK ? 1u : 0u) << what;
  if (r.responses.empty()) return;
  v1::IngestResponse response;
  ASSERT_TRUE(response.ParseFromString(r.responses[0])) << what;
  uint32_t accepted = 0, duplicates = 0;
  std::vector<std::pair<uint32_t, std::string>> rejected;
  for (size_t i = 0; i < e.outcomes.size(); ++i) {
    if (e.outcomes[i] == "ok") {
      ++accepted;
    } else if (e.outcomes[i] == "duplicate") {
      ++duplicates;
    } else {
      rejected.emplace_back(static_cast<uint32_t>(i), e.outcomes[i]);
    }
  }
  EXPECT_EQ(response.accepted(), accepted) << what;
  EXPECT_EQ(response.duplicates(), duplicates) << what;
  std::vector<std::pair<uint32_t, std::string>> got;
  for (const v1::Rejection& rej : response.rejections()) {
    got.emplace_back(rej.index(), rej.code());
    EXPECT_FALSE(rej.reason().empty()) << what;
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, rejected) << what;
}

// Every log line is one JSON object, protobuf's own complaints too (event protobuf_log, which
// names the field, never the value); those about invalid UTF-8 are counted in `protobuf_lines`.
void ExpectLogLines(const std::string& log, int& protobuf_lines) {
  std::istringstream in(log);
  std::string line;
  protobuf_lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
    if (line.find("\"event\":\"protobuf_log\"") != std::string::npos &&
        line.find("contains invalid UTF-8 data when parsing a protocol buffer") !=
            std::string::npos) {
      ++protobuf_lines;
    }
  }
}

TEST(Malformed, CorpusGetsDocumentedCodesAndNothingIsEchoed) {
  testing::TestDatabase db;
  ServerProcess ingest = StartIngest(db.url());
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  auto stub_owner = std::make_unique<grpc::GenericStub>(
      grpc::CreateCustomChannel(ingest.addr, grpc::InsecureChannelCredentials(), args));
  grpc::GenericStub& stub = *stub_owner;

  const std::vector<ManifestEntry> entries = ReadManifest();
  ASSERT_GE(entries.size(), 25u);
  // The checked-in corpus stays small.
  uint64_t corpus_bytes = 0;
  for (const ManifestEntry& e : entries) {
    if (e.name[0] != '@') corpus_bytes += ReadBinary(kCorpusDir + "/" + e.name).size();
  }
  EXPECT_LT(corpus_bytes, 2u << 20);

  for (const ManifestEntry& e : entries) {
    const std::string body = Body(e);
    const RawResult unary = CallUnary(stub, body);
    EXPECT_EQ(unary.status.error_code(), e.code)
        << e.name << " (IngestBatch): " << unary.status.error_message();
    std::cout << "[ corpus   ] " << e.name << " (" << body.size() << " bytes): IngestBatch "
              << unary.status.error_code() << " \"" << unary.status.error_message() << "\"\n";
    if (e.undecodable()) {
      EXPECT_EQ(unary.status.error_message(), kUndecodableReason) << e.name;
    }
    ExpectOutcomes(e, unary, e.name + " (IngestBatch)");
    ExpectNoSecret(unary.status.error_message(), e.name + " status message");
    ExpectNoSecret(unary.status.error_details(), e.name + " status details");
    for (const std::string& r : unary.responses) ExpectNoSecret(r, e.name + " response");
    ASSERT_TRUE(Alive(ingest)) << e.name << ": " << ReadFile(ingest.log);
  }

  // The same bodies over the Ingest stream, each after a valid batch: the same codes, and the
  // stream ends after acknowledging the valid batch. (Accepted events now come back as
  // duplicates, so only the code and the absence of secrets are compared.)
  // The 17 MiB body is refused by gRPC itself (over the receive limit), which ends the call at
  // once: the valid batch's ack may or may not have been written by then.
  constexpr uint64_t kBatchBefore = 424242;
  int n = 0;
  for (const ManifestEntry& e : entries) {
    v1::IngestRequest before;
    before.ParseFromString(ManyEvents(1, "stream-before-" + std::to_string(++n) + "-"));
    before.set_batch_id(kBatchBefore);
    const RawResult stream = CallStream(stub, {before.SerializeAsString(), Body(e)});
    std::cout << "[ corpus   ] " << e.name << ": Ingest " << stream.status.error_code() << " \""
              << stream.status.error_message() << "\", " << stream.responses.size()
              << " responses\n";
    EXPECT_EQ(stream.status.error_code(), e.code)
        << e.name << " (Ingest): " << stream.status.error_message();
    if (e.undecodable()) {
      EXPECT_EQ(stream.status.error_message(), kUndecodableReason) << e.name;
    }
    if (e.name == "@oversize-17MiB") {
      EXPECT_LE(stream.responses.size(), 1u);
    } else {
      ASSERT_EQ(stream.responses.size(), e.code == grpc::StatusCode::OK ? 2u : 1u) << e.name;
      // Acks come in commit order; the batch before must be among them.
      int acked_before = 0;
      for (const std::string& r : stream.responses) {
        v1::IngestResponse ack;
        ASSERT_TRUE(ack.ParseFromString(r)) << e.name;
        if (ack.batch_id() == kBatchBefore) {
          ++acked_before;
          EXPECT_EQ(ack.accepted() + ack.duplicates() + ack.rejections_size(), 1u) << e.name;
        }
      }
      EXPECT_EQ(acked_before, 1) << e.name << ": the batch before is acknowledged";
    }
    ExpectNoSecret(stream.status.error_message(), e.name + " stream status message");
    for (const std::string& r : stream.responses) ExpectNoSecret(r, e.name + " stream response");
    ASSERT_TRUE(Alive(ingest)) << e.name << ": " << ReadFile(ingest.log);
  }

  EXPECT_EQ(Health(ingest.addr), 0);
  stub_owner.reset();  // before the server stops
  // No marked or BSN-like ref was stored as an event, and the quarantine (which keeps rejected
  // events as received) dropped every BSN-like ref.
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events WHERE client_ref LIKE '%ZZLEAK%' "
                      "OR client_ref LIKE '%123%456%78%'"),
            "0");
  EXPECT_NE(db.Scalar("SELECT count(*) FROM rejected_events WHERE code = 'probable_bsn'"), "0");
  for (const char* bsn : {"123456782", "111.222.333", "9876 543 21", "123-456-782", "12345678"}) {
    EXPECT_EQ(db.Scalar("SELECT count(*) FROM rejected_events WHERE "
                        "position(convert_to('" +
                        std::string(bsn) + "', 'UTF8') in payload) > 0"),
              "0")
        << bsn;
  }
  ingest.process->Signal(SIGTERM);
  EXPECT_EQ(ingest.process->Wait(30s), 0);
  const std::string log = ReadFile(ingest.log);
  ExpectNoSecret(log, "the server log");
  int protobuf_lines = 0;
  ExpectLogLines(log, protobuf_lines);
  // Three bodies with invalid UTF-8, each sent twice.
  EXPECT_LE(protobuf_lines, 6);
}

// A stream that opens, then (on Send) writes `batches` one-event batches without waiting for acks,
// half-closes and reads every ack; callback API, so a thousand of them need no threads. Send must
// be called once.
class BatchStream final : public grpc::ClientBidiReactor<v1::IngestRequest, v1::IngestResponse> {
 public:
  BatchStream(v1::IngestService::Stub& stub, int n, int batches) : n_(n), batches_(batches) {
    ctx_.set_deadline(std::chrono::system_clock::now() + 60s);
    stub.async()->Ingest(&ctx_, this);
    StartRead(&response_);
    AddHold();  // no OnDone before Send, even when the server refuses the stream at once
    StartCall();
  }
  void Send() {
    WriteNext();  // fails (OnWriteDone(false)) on a refused stream
    RemoveHold();
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return;
    if (written_ < batches_) {
      WriteNext();
    } else {
      StartWritesDone();
    }
  }
  void OnReadDone(bool ok) override {
    if (ok) {
      ++acked_;
      StartRead(&response_);
    }
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu_);
    status_ = s;
    done_ = true;
    cv_.notify_all();
  }
  grpc::Status Await(std::chrono::seconds timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return done_; })) {
      ctx_.TryCancel();
      cv_.wait(lock, [&] { return done_; });
    }
    return status_;
  }
  [[nodiscard]] int acked() const { return acked_; }

 private:
  void WriteNext() {
    const int b = written_++;
    request_.Clear();
    request_.set_batch_id(static_cast<uint64_t>(b + 1));
    v1::Event* e = request_.add_events();
    e->set_event_id("many-" + std::to_string(n_) + "-" + std::to_string(b));
    e->set_source("malformed");
    e->set_client_ref("ManyStreamsPerson" + std::to_string(100000 + n_));
    e->mutable_occurred_at()->set_seconds(1651399200 + b);
    e->mutable_target_group_entered()->set_municipality_code("GM0654");
    StartWrite(&request_);
  }

  const int n_, batches_;
  int written_ = 0;  // only touched by Send and OnWriteDone, which never overlap
  grpc::ClientContext ctx_;
  v1::IngestRequest request_;
  v1::IngestResponse response_;
  std::atomic<int> acked_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
};

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(Malformed, ThousandConcurrentStreamsAreServedOrRefusedWithBoundedMemory) {
  testing::TestDatabase db;
  ServerProcess ingest = StartIngest(db.url());  // default --max-streams
  auto stub = v1::IngestService::NewStub(
      grpc::CreateChannel(ingest.addr, grpc::InsecureChannelCredentials()));
  const int64_t rss_before = RssKiB(ingest.process->pid());
  constexpr int kStreams = 1000, kBatchesPerStream = 3;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<BatchStream>> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<BatchStream>(*stub, i, kBatchesPerStream));
  }
  // Wait until the server has seen them all: each is logged as stream_started or stream_refused.
  size_t started = 0, refused = 0;
  for (int i = 0; i < 200 && started + refused < kStreams; ++i) {
    std::this_thread::sleep_for(50ms);
    const std::string log = ReadFile(ingest.log);
    started = Count(log, "\"event\":\"stream_started\"");
    refused = Count(log, "\"event\":\"stream_refused\"");
  }
  const auto opened = std::chrono::steady_clock::now();
  const int64_t rss_open = RssKiB(ingest.process->pid());
  EXPECT_EQ(Health(ingest.addr), 0) << "health must answer with the streams open";
  for (auto& s : streams) s->Send();
  EXPECT_EQ(Health(ingest.addr), 0) << "health must answer while the batches pour in";
  std::map<grpc::StatusCode, int> codes;
  int acked = 0;
  for (auto& s : streams) {
    const grpc::Status status = s->Await(40s);
    ++codes[status.error_code()];
    acked += s->acked();
    if (status.ok()) {
      EXPECT_EQ(s->acked(), kBatchesPerStream);
    } else {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      ExpectNoSecret(status.error_message(), "a refusal");
    }
  }
  const auto finished = std::chrono::steady_clock::now();
  const int64_t rss_after = RssKiB(ingest.process->pid());
  std::cout << "[ streams  ] " << kStreams << " streams: " << started << " started, " << refused
            << " refused after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(opened - start).count()
            << " ms; all done after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(finished - start).count()
            << " ms; OK " << codes[grpc::StatusCode::OK] << ", RESOURCE_EXHAUSTED "
            << codes[grpc::StatusCode::RESOURCE_EXHAUSTED] << "; " << acked
            << " acks; RSS MiB before " << rss_before / 1024 << ", open " << rss_open / 1024
            << ", after " << rss_after / 1024 << "\n";
  // --max-streams (default 256) admits some and refuses the rest at once with RESOURCE_EXHAUSTED;
  // an admitted stream whose batch finds the pipeline queue full is refused the same way. So
  // every stream ends OK with all its acks, or RESOURCE_EXHAUSTED; every ack is a stored batch.
  EXPECT_EQ(started + refused, static_cast<size_t>(kStreams));
  EXPECT_LT(started, static_cast<size_t>(kStreams)) << "no limit on concurrent streams";
  EXPECT_GT(started, 0u);
  EXPECT_EQ(codes[grpc::StatusCode::OK] + codes[grpc::StatusCode::RESOURCE_EXHAUSTED], kStreams);
  EXPECT_GE(codes[grpc::StatusCode::RESOURCE_EXHAUSTED], static_cast<int>(refused));
  EXPECT_EQ(std::to_string(acked),
            db.Scalar("SELECT count(*) FROM events WHERE event_id LIKE 'many-%'"));
  EXPECT_LT(rss_open, 300 * 1024);
  EXPECT_LT(rss_after, 300 * 1024);
  EXPECT_TRUE(Alive(ingest));
  EXPECT_EQ(Health(ingest.addr), 0);
}

TEST(Malformed, ClientThatNeverReadsAcksIsStoppedByFlowControl) {
  testing::TestDatabase db;
  ServerProcess ingest = StartIngest(db.url());
  auto stub = v1::IngestService::NewStub(
      grpc::CreateChannel(ingest.addr, grpc::InsecureChannelCredentials()));
  // Batches whose acks are large (every event rejected, with a 128-character event_id echoed):
  // the client's receive window fills and the server's ack writes stop completing.
  auto batch = [](int b) {
    v1::IngestRequest r;
    r.set_batch_id(static_cast<uint64_t>(b));
    for (int i = 0; i < 2000; ++i) {
      v1::Event* e = r.add_events();
      std::string id = "unread-" + std::to_string(b) + "-" + std::to_string(i) + "-";
      id.resize(128, 'x');
      e->set_event_id(id);
      e->set_source("malformed");
      e->set_client_ref("123456782");
      e->mutable_occurred_at()->set_seconds(1651399200);
      e->mutable_profile_completed();
    }
    return r;
  };
  const size_t batch_bytes = batch(1).ByteSizeLong();
  grpc::ClientContext ctx;
  auto stream = stub->Ingest(&ctx);
  std::atomic<int> written{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int b = 1; !stop && b <= 10'000; ++b) {
      if (!stream->Write(batch(b))) break;
      ++written;
    }
  });
  int64_t max_rss = 0;
  std::vector<int> written_at;  // per second
  std::vector<std::string> committed_at;
  const auto start = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - start < 6s) {
    for (int i = 0; i < 10; ++i) {
      max_rss = std::max(max_rss, RssKiB(ingest.process->pid()));
      std::this_thread::sleep_for(100ms);
    }
    written_at.push_back(written.load());
    committed_at.push_back(db.Scalar("SELECT count(*) FROM ingest_batches"));
  }
  // Meanwhile the server serves others.
  EXPECT_EQ(Health(ingest.addr), 0);
  {
    grpc::ClientContext other;
    v1::IngestRequest r = batch(99'999);
    r.mutable_events()->DeleteSubrange(1, r.events_size() - 1);
    v1::IngestResponse resp;
    EXPECT_TRUE(stub->IngestBatch(&other, r, &resp).ok());
  }
  std::ostringstream trace;
  for (size_t i = 0; i < written_at.size(); ++i) {
    trace << " " << i + 1 << "s:" << written_at[i] << "/" << committed_at[i];
  }
  std::cout << "[ unread   ] written/committed batches per second:" << trace.str() << " ("
            << batch_bytes / 1024 << " KiB each); max RSS " << max_rss / 1024 << " MiB\n";
  // The writer is blocked: no write completed in the last two seconds, what it got out is bounded
  // by the HTTP/2 windows (not by the 10,000 batches it wants to send), and the server commits
  // nothing more for this stream: with --max-in-flight (4) acks unwritten it stopped reading.
  ASSERT_GE(written_at.size(), 5u);
  EXPECT_EQ(written_at[written_at.size() - 1], written_at[written_at.size() - 3]);
  EXPECT_LT(static_cast<size_t>(written_at.back()) * batch_bytes, size_t{64} << 20);
  EXPECT_EQ(committed_at[committed_at.size() - 2], committed_at[committed_at.size() - 4]);
  EXPECT_LT(max_rss, 300 * 1024);
  stop = true;
  ctx.TryCancel();
  writer.join();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  stream.reset();
  EXPECT_TRUE(Alive(ingest));
  EXPECT_EQ(Health(ingest.addr), 0);
  stub.reset();
  ingest.process->Signal(SIGTERM);
  EXPECT_EQ(ingest.process->Wait(30s), 0) << ReadFile(ingest.log);
}

TEST(Malformed, HugeMetadataIsRefusedAndTheServerCarriesOn) {
  testing::TestDatabase db;
  ServerProcess ingest = StartIngest(db.url());
  auto stub = v1::IngestService::NewStub(
      grpc::CreateChannel(ingest.addr, grpc::InsecureChannelCredentials()));
  v1::IngestRequest r;
  v1::Event* e = r.add_events();
  e->set_event_id("metadata-1");
  e->set_source("malformed");
  e->set_client_ref("MetadataTestPerson01");
  e->mutable_occurred_at()->set_seconds(1651399200);
  e->mutable_profile_completed();
  for (size_t size : {size_t{1} << 20, size_t{64} << 10, size_t{16} << 10}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    ctx.AddMetadata("x-sonar-test", std::string(size, 'm') + "ZZLEAKHDR");
    v1::IngestResponse resp;
    const grpc::Status s = stub->IngestBatch(&ctx, r, &resp);
    std::cout << "[ metadata ] " << size << " bytes: code " << s.error_code() << " \""
              << s.error_message() << "\"\n";
    EXPECT_FALSE(s.ok()) << size;
    // gRPC's default limit on received metadata (8 KiB), enforced by gRPC itself: usually
    // RESOURCE_EXHAUSTED for the call, sometimes the connection is closed (UNAVAILABLE).
    EXPECT_TRUE(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                s.error_code() == grpc::StatusCode::UNAVAILABLE)
        << s.error_code() << " " << s.error_message();
    ExpectNoSecret(s.error_message(), "metadata status message");
    EXPECT_TRUE(Alive(ingest));
  }
  // Many headers that are each small but add up.
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    for (int i = 0; i < 2000; ++i) ctx.AddMetadata("x-sonar-" + std::to_string(i), "ZZLEAKHDR");
    v1::IngestResponse resp;
    const grpc::Status s = stub->IngestBatch(&ctx, r, &resp);
    std::cout << "[ metadata ] 2000 headers: code " << s.error_code() << " \"" << s.error_message()
              << "\"\n";
    EXPECT_TRUE(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                s.error_code() == grpc::StatusCode::UNAVAILABLE)
        << s.error_code() << " " << s.error_message();
  }
  // The next ordinary call on the same channel goes through. When gRPC answered an oversize
  // header block by closing the connection, the channel reconnects first (wait_for_ready), and a
  // call that raced with the closing connection may fail UNAVAILABLE once: it is retried, and a
  // retry of a call that did commit answers "duplicate", so accepted + duplicates is 1 either way.
  v1::IngestResponse resp;
  grpc::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + 20s);
    last = stub->IngestBatch(&ctx, r, &resp);
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE) break;
    std::cout << "[ metadata ] ordinary call attempt " << attempt + 1 << ": code "
              << last.error_code() << " \"" << last.error_message() << "\"\n";
  }
  ASSERT_TRUE(last.ok()) << last.error_code() << " " << last.error_message();
  EXPECT_EQ(resp.accepted() + resp.duplicates(), 1u);
  EXPECT_EQ(db.Scalar("SELECT count(*) FROM events"), "1");
  EXPECT_EQ(Health(ingest.addr), 0);
  stub.reset();
  ingest.process->Signal(SIGTERM);
  EXPECT_EQ(ingest.process->Wait(30s), 0);
  ExpectNoSecret(ReadFile(ingest.log), "the server log");
}

}  // namespace
}  // namespace sonar
