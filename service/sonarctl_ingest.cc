#include "service/sonarctl_ingest.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "google/protobuf/util/json_util.h"
#include "sonar/v1/ingest.grpc.pb.h"

namespace sonar::service {

bool StreamEvents(const std::string& addr, const std::vector<v1::Event>& events, int batch_size,
                  int in_flight, IngestSummary& summary, std::ostream& errors) {
  auto stub = v1::IngestService::NewStub(
      grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  auto stream = stub->Ingest(&ctx);
  std::mutex mu;
  std::condition_variable cv;
  int outstanding = 0;
  bool reader_done = false;

  std::thread reader([&] {
    v1::IngestResponse resp;
    while (stream->Read(&resp)) {
      std::lock_guard lock(mu);
      summary.accepted += resp.accepted();
      summary.duplicates += resp.duplicates();
      summary.rejected += resp.rejections_size();
      for (const auto& r : resp.rejections()) {
        const uint64_t position = (resp.batch_id() - 1) * batch_size + r.index() + 1;
        errors << "event " << position << " rejected: " << r.code() << ": " << r.reason() << "\n";
      }
      --outstanding;
      cv.notify_all();
    }
    std::lock_guard lock(mu);
    reader_done = true;
    cv.notify_all();
  });

  bool write_ok = true;
  for (size_t start = 0; start < events.size() && write_ok; start += batch_size) {
    v1::IngestRequest req;
    req.set_batch_id(start / batch_size + 1);
    const size_t end = std::min(events.size(), start + static_cast<size_t>(batch_size));
    for (size_t i = start; i < end; ++i) *req.add_events() = events[i];
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return outstanding < in_flight || reader_done; });
      if (reader_done) break;
      ++outstanding;
    }
    write_ok = stream->Write(req);
    if (write_ok) {
      summary.sent += end - start;
      ++summary.batches;
    }
  }
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!status.ok()) {
    errors << "stream failed: " << status.error_message() << " (code "
           << static_cast<int>(status.error_code()) << ")\n";
    return false;
  }
  return true;
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
  const bool ok = StreamEvents(options.addr, events, options.batch_size, options.in_flight,
                               summary, errors);
  out << "sent " << summary.sent << " events in " << summary.batches << " batches: "
      << summary.accepted << " accepted, " << summary.duplicates << " duplicates, "
      << summary.rejected << " rejected";
  if (summary.unreadable_lines > 0) out << ", " << summary.unreadable_lines << " unreadable lines";
  out << "\n";
  return ok && summary.unreadable_lines == 0 ? 0 : 1;
}

}  // namespace sonar::service
