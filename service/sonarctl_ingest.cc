#include "service/sonarctl_ingest.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "google/protobuf/util/json_util.h"
#include "service/client_channel.h"
#include "sonar/v1/ingest.grpc.pb.h"

namespace sonar::service {

namespace {

// One stream: sends the batches not yet acknowledged, marks the acknowledged ones. Returns the
// stream's final status.
grpc::Status StreamOnce(v1::IngestService::Stub& stub, const std::vector<v1::Event>& events,
                        int batch_size, int in_flight, std::vector<bool>& acked,
                        IngestSummary& summary, std::ostream& errors) {
  grpc::ClientContext ctx;
  auto stream = stub.Ingest(&ctx);
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  bool reader_done = false;

  std::thread reader([&] {
    v1::IngestResponse resp;
    while (stream->Read(&resp)) {
      std::lock_guard lock(mu);
      const uint64_t index = resp.batch_id() - 1;
      if (index < acked.size() && !acked[index]) {
        acked[index] = true;
        summary.accepted += resp.accepted();
        summary.duplicates += resp.duplicates();
        summary.rejected += resp.rejections_size();
        for (const auto& r : resp.rejections()) {
          errors << "event " << index * batch_size + r.index() + 1 << " rejected: " << r.code()
                 << ": " << r.reason() << "\n";
        }
      }
      --outstanding;
      cv.notify_all();
    }
    std::lock_guard lock(mu);
    reader_done = true;
    cv.notify_all();
  });

  for (size_t b = 0; b < acked.size(); ++b) {
    {
      std::unique_lock lock(mu);
      if (acked[b]) continue;
      cv.wait(lock, [&] { return outstanding < in_flight || reader_done; });
      if (reader_done) break;
      ++outstanding;
    }
    v1::IngestRequest req;
    req.set_batch_id(b + 1);
    const size_t start = b * batch_size;
    const size_t end = std::min(events.size(), start + static_cast<size_t>(batch_size));
    for (size_t i = start; i < end; ++i) *req.add_events() = events[i];
    if (!stream->Write(req)) break;
    summary.sent += end - start;
    ++summary.batches;
  }
  stream->WritesDone();
  reader.join();
  return stream->Finish();
}

}  // namespace

bool StreamEvents(const std::string& addr, const std::vector<v1::Event>& events, int batch_size,
                  int in_flight, IngestSummary& summary, std::ostream& errors, int retries) {
  auto stub = v1::IngestService::NewStub(MakeChannel(addr));
  std::vector<bool> acked((events.size() + batch_size - 1) / batch_size, false);
  auto backoff = std::chrono::milliseconds(100);
  int failures_without_progress = 0;
  while (true) {
    const size_t acked_before = std::count(acked.begin(), acked.end(), true);
    const grpc::Status status =
        StreamOnce(*stub, events, batch_size, in_flight, acked, summary, errors);
    const size_t acked_after = std::count(acked.begin(), acked.end(), true);
    if (acked_after == acked.size()) return true;
    if (acked_after > acked_before) {
      failures_without_progress = 0;
      backoff = std::chrono::milliseconds(100);
    }
    errors << "stream failed: " << status.error_message() << " (code "
           << static_cast<int>(status.error_code()) << "); " << acked.size() - acked_after
           << " batches not acknowledged\n";
    // INVALID_ARGUMENT and the like will not get better by resending.
    const bool transient = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::ABORTED ||
                           status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
                           status.error_code() == grpc::StatusCode::OK;
    if (!transient || failures_without_progress++ >= retries) return false;
    ++summary.reconnects;
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

int RunIngest(const IngestOptions& options, std::ostream& out, std::ostream& errors) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (options.file != "-") {
    file.open(options.file);
    if (!file) {
      errors << "cannot open " << options.file << "\n";
      return 1;
    }
    in = &file;
  }
  IngestSummary summary;
  std::vector<v1::Event> events;
  std::string line;
  uint64_t line_no = 0;
  while (std::getline(*in, line)) {
    ++line_no;
    if (line.empty()) continue;
    v1::Event event;
    if (!google::protobuf::util::JsonStringToMessage(line, &event).ok()) {
      ++summary.unreadable_lines;
      errors << "line " << line_no << ": not an Event in protobuf JSON; skipped\n";
      continue;
    }
    events.push_back(std::move(event));
  }
  const bool ok = StreamEvents(options.addr, events, options.batch_size, options.in_flight, summary,
                               errors, options.retries);
  out << "sent " << summary.sent << " events in " << summary.batches
      << " batches: " << summary.accepted << " accepted, " << summary.duplicates << " duplicates, "
      << summary.rejected << " rejected";
  if (summary.unreadable_lines > 0) out << ", " << summary.unreadable_lines << " unreadable lines";
  if (summary.reconnects > 0) out << " (" << summary.reconnects << " reconnects)";
  out << "\n";
  return ok && summary.unreadable_lines == 0 ? 0 : 1;
}

}  // namespace sonar::service
