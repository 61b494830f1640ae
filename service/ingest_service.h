// gRPC adapter of the write path: IngestService on the callback API.
//
// Ingest (bidi stream): each request is one batch, committed in its own transaction by the
// IngestPipeline; its response is written once the batch is durable. A stream keeps at most
// `max_in_flight` batches between read and ack: it does not read the next request before one
// completes, so a producer faster than the database is slowed by flow control, not buffered.
// IngestBatch (unary): the same for one batch.
//
// Both methods are registered raw (grpc::ByteBuffer) and parse the request here, so a body that is
// not a valid sonar.v1.IngestRequest gets INVALID_ARGUMENT (gRPC's own typed handlers answer
// UNIMPLEMENTED on unary calls and end a stream as if the client had half-closed). On the stream,
// batches read before it are still committed and acknowledged, then the stream ends with the error.
//
// A malformed request (undecodable, no events, too many events) gets INVALID_ARGUMENT; a database
// failure ends the stream with the failure's code (UNAVAILABLE when the database is down) and the
// failed batch is never acknowledged.
//
// Memory: besides the per-stream bound, the serialized bytes of requests read whose transaction has
// not ended yet, over all calls, are held under `max_inflight_bytes` (a request is freed when its
// transaction ends; the acks that wait to be written are small and at most
// `max_in_flight_per_stream` per stream). A stream reads its next request only while the total is
// under the budget (otherwise it waits, and its producer with it by HTTP/2 flow control, until a
// batch ends); the request it then reads is charged in full, so the total can pass the budget by at
// most one request per stream. A unary call that does not fit gets RESOURCE_EXHAUSTED (retry with
// backoff); a request larger than the whole budget gets RESOURCE_EXHAUSTED on either method.
// Thread-safe.
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
  // Serialized bytes of requests read and not yet committed or failed, over all calls (see above).
  uint64_t max_inflight_bytes = uint64_t{256} << 20;
};

// The request bytes the service holds now and at most since it started.
struct InflightBytes {
  uint64_t now = 0;
  uint64_t peak = 0;
};

// A request parsed on an arena of its own: its events, their strings and sub-messages are
// allocated in a few blocks and freed together when the batch's job lets go of it (a request
// of 1 000 events is otherwise about 8 000 separate allocations and frees).
struct ArenaRequest {
  ArenaRequest();
  google::protobuf::Arena arena;
  v1::IngestRequest* request;  // owned by `arena`
};

class IngestStreamReactor;

class IngestServiceImpl final
    : public v1::IngestService::WithRawCallbackMethod_Ingest<
          v1::IngestService::WithRawCallbackMethod_IngestBatch<v1::IngestService::Service>> {
 public:
  // `authorizer` (default: everyone allowed) must grant the ingest role to every caller.
  IngestServiceImpl(ingest::IngestPipeline& pipeline, IngestServiceOptions options,
                    std::shared_ptr<const Authorizer> authorizer = nullptr);

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Ingest(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* IngestBatch(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;

  // Stops taking new streams and batches, ends open streams once their in-flight batches are
  // acknowledged, and waits (up to `timeout`) until none is left. Returns true if all ended.
  bool Drain(std::chrono::milliseconds timeout);

  [[nodiscard]] bool draining() const { return draining_.load(); }
  [[nodiscard]] InflightBytes inflight_bytes() const;

 private:
  friend class IngestStreamReactor;
  void Register(IngestStreamReactor* reactor);
  void Unregister(IngestStreamReactor* reactor);
  // Parses a raw request body and checks its shape; OK or INVALID_ARGUMENT without echoing
  // content.
  [[nodiscard]] grpc::Status ParseRequest(const grpc::ByteBuffer& body,
                                          ArenaRequest& request) const;
  [[nodiscard]] grpc::Status CheckRequest(const v1::IngestRequest& request) const;
  // RESOURCE_EXHAUSTED if a request of `bytes` can never fit in the budget, else OK.
  [[nodiscard]] grpc::Status CheckRequestSize(uint64_t bytes) const;
  // Stream side of the byte budget (caller holds the reactor's lock): true if the total is under
  // the budget, so the stream may read; else the stream is woken (WakeForBudget) once bytes are
  // released.
  [[nodiscard]] bool MayReadOrWait(IngestStreamReactor* reactor);
  // Charges `bytes` unconditionally (a stream's request already read).
  void ChargeBytes(uint64_t bytes);
  // Charges `bytes` if they fit under the budget (a unary request).
  [[nodiscard]] bool TryChargeBytes(uint64_t bytes);
  // Releases `bytes` and wakes waiting streams. Never call with a reactor's lock held.
  void ReleaseBytes(uint64_t bytes);
  // Decodes and submits; `done` gets the response or the failure. False if the queue is full.
  // Takes the request: the job keeps it for the quarantine payloads of rejected events.
  [[nodiscard]] bool Submit(const std::string& stream_id, std::shared_ptr<ArenaRequest> request,
                            std::function<void(grpc::Status, v1::IngestResponse)> done);

  ingest::IngestPipeline& pipeline_;
  IngestServiceOptions options_;
  std::shared_ptr<const Authorizer> authorizer_;
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> next_stream_{1};
  std::mutex mu_;
  std::condition_variable all_done_;
  std::set<IngestStreamReactor*> active_;
  // Leaf lock: taken under mu_ or a reactor's lock, never the other way round.
  mutable std::mutex budget_mu_;
  InflightBytes inflight_;
  std::set<IngestStreamReactor*> budget_waiters_;
};

}  // namespace sonar::service
