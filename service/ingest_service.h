// gRPC adapter of the write path: IngestService on the callback API.
//
// Ingest (bidi stream): each request is one batch, committed in its own transaction by the
// IngestPipeline; its response is written once the batch is durable. A stream keeps at most
// `max_in_flight` batches between read and ack: it does not read the next request before one
// completes, so a producer faster than the database is slowed by flow control, not buffered.
// IngestBatch (unary): the same for one batch.
//
// A malformed request (no events, too many events) gets INVALID_ARGUMENT; a database failure ends
// the stream with the failure's code (UNAVAILABLE when the database is down) and the failed batch
// is never acknowledged. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>

#include "ingest/ingest_pipeline.h"
#include "service/security.h"
#include "sonar/v1/ingest.grpc.pb.h"

namespace sonar::service {

struct IngestServiceOptions {
  int max_in_flight_per_stream = 4;
  int max_events_per_batch = 10'000;
  // Open Ingest streams beyond this are refused with RESOURCE_EXHAUSTED (memory stays bounded:
  // streams x in-flight batches x batch size).
  int max_streams = 256;
};

class IngestStreamReactor;

class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  // `authorizer` (default: everyone allowed) must grant the ingest role to every caller.
  IngestServiceImpl(ingest::IngestPipeline& pipeline, IngestServiceOptions options,
                    std::shared_ptr<const Authorizer> authorizer = nullptr);

  grpc::ServerBidiReactor<v1::IngestRequest, v1::IngestResponse>* Ingest(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* IngestBatch(grpc::CallbackServerContext* context,
                                        const v1::IngestRequest* request,
                                        v1::IngestResponse* response) override;

  // Stops taking new streams and batches, ends open streams once their in-flight batches are
  // acknowledged, and waits (up to `timeout`) until none is left. Returns true if all ended.
  bool Drain(std::chrono::milliseconds timeout);

  [[nodiscard]] bool draining() const { return draining_.load(); }

 private:
  friend class IngestStreamReactor;
  void Register(IngestStreamReactor* reactor);
  void Unregister(IngestStreamReactor* reactor);
  // Checks the request's shape; OK or INVALID_ARGUMENT without echoing content.
  [[nodiscard]] grpc::Status CheckRequest(const v1::IngestRequest& request) const;
  // Decodes and submits; `done` gets the response or the failure. False if the queue is full.
  [[nodiscard]] bool Submit(const std::string& stream_id, const v1::IngestRequest& request,
                            std::function<void(grpc::Status, v1::IngestResponse)> done);

  ingest::IngestPipeline& pipeline_;
  IngestServiceOptions options_;
  std::shared_ptr<const Authorizer> authorizer_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_stream_{1};
  std::mutex mu_;
  std::condition_variable all_done_;
  std::set<IngestStreamReactor*> active_;
};

}  // namespace sonar::service
