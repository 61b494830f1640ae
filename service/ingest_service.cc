#include "service/ingest_service.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>

#include "service/grpc_status.h"
#include "service/json_log.h"
#include "service/proto_mapping.h"

namespace sonar::service {

using Clock = std::chrono::steady_clock;

namespace {

// Writes `message` into `buffer` (the raw methods answer with bytes), replacing what it held.
void SerializeInto(const v1::IngestResponse& message, grpc::ByteBuffer* buffer) {
  buffer->Clear();
  bool own_buffer = false;
  // Serializing a message we built cannot fail.
  (void)grpc::SerializationTraits<v1::IngestResponse>::Serialize(message, buffer, &own_buffer);
}

google::protobuf::ArenaOptions RequestArenaOptions() {
  google::protobuf::ArenaOptions options;
  // A 1 000-event request takes a few hundred KiB on its arena: a handful of blocks.
  options.start_block_size = 8 * 1024;
  options.max_block_size = 64 * 1024;
  return options;
}

}  // namespace

ArenaRequest::ArenaRequest()
    : arena(RequestArenaOptions()),
      request(google::protobuf::Arena::CreateMessage<v1::IngestRequest>(&arena)) {}

class IngestStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  IngestStreamReactor(IngestServiceImpl& service, grpc::CallbackServerContext* context,
                      std::string stream_id)
      : service_(service),
        context_(context),
        stream_id_(std::move(stream_id)),
        started_(Clock::now()) {
    service_.Register(this);
    LogLine("stream_started").Add("stream_id", stream_id_).Info();
    std::lock_guard lock(mu_);
    MaybeReadLocked();
  }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mu_);
    reading_ = false;
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    if (failure_ || draining_) {
      // Not processed and not acknowledged: the producer resends it on its next stream.
      MaybeFinishLocked();
      return;
    }
    ++batches_received_;
    const uint64_t bytes = read_buffer_.Length();
    auto request = std::make_shared<ArenaRequest>();
    grpc::Status valid = service_.CheckRequestSize(bytes);
    if (valid.ok()) valid = service_.ParseRequest(read_buffer_, *request);
    read_buffer_.Clear();
    if (!valid.ok()) {
      // Batches read before this one are still committed and acknowledged (MaybeFinishLocked).
      FailLocked(std::move(valid));
      return;
    }
    service_.ChargeBytes(bytes);
    const uint64_t batch_id = request->request->batch_id();
    const size_t events = request->request->events_size();
    const auto submitted = Clock::now();
    const bool queued = service_.Submit(stream_id_, std::move(request),
                                        [this, batch_id, events, bytes, submitted](
                                            grpc::Status status, v1::IngestResponse response) {
                                          OnBatchDone(batch_id, events, bytes, submitted,
                                                      std::move(status), std::move(response));
                                        });
    if (!queued) {
      // Released when the stream ends (OnDone), which is now: not here, under the lock.
      unreleased_bytes_ += bytes;
      FailLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                              "ingest queue is full; retry with backoff"));
      return;
    }
    ++in_flight_;
    MaybeReadLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      // The client is gone; the batch was committed, a resend will be counted as duplicate.
      FailLocked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    MaybeWriteLocked();
    MaybeReadLocked();
    MaybeFinishLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    MaybeFinishLocked();
  }

  void OnDone() override {
    // Finish may have been called by a pipeline worker still holding mu_ (OnBatchDone): wait
    // until it has let go, or it would unlock a freed mutex. gRPC 1.51 runs OnDone of a reactor
    // that is not inlineable on another thread, never inside Finish, so this cannot deadlock;
    // and nothing takes mu_ once Finish was called but the service (StartDrain, WakeForBudget,
    // under the service's lock, which Unregister below waits for).
    { std::lock_guard lock(mu_); }
    // A client that cancelled, or whose connection closed, never saw the status: log 1 then (a
    // cancel usually shows first as a failed read, like a producer closing its stream).
    const grpc::StatusCode code = final_code_ == grpc::StatusCode::OK && context_->IsCancelled()
                                      ? grpc::StatusCode::CANCELLED
                                      : final_code_;
    LogLine("stream_ended")
        .Add("stream_id", stream_id_)
        .Add("batches", batches_received_)
        .Add("acked", batches_acked_)
        .Add("code", static_cast<int>(code))
        .Add("duration_ms",
             static_cast<int64_t>(
                 std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_)
                     .count()))
        .Info();
    service_.Unregister(this);
    service_.ReleaseBytes(unreleased_bytes_);
    delete this;
  }

  // Called by the service on SIGTERM.
  void StartDrain() {
    std::lock_guard lock(mu_);
    draining_ = true;
    MaybeFinishLocked();
  }

  // Called by the service when request bytes were released while this stream waited to read.
  void WakeForBudget() {
    std::lock_guard lock(mu_);
    MaybeReadLocked();
  }

 private:
  // Runs on a pipeline worker once the batch's transaction has ended.
  void OnBatchDone(uint64_t batch_id, size_t events, uint64_t bytes, Clock::time_point submitted,
                   grpc::Status status, v1::IngestResponse response) {
    IngestServiceImpl& service = service_;
    {
      std::lock_guard lock(mu_);
      BatchDoneLocked(batch_id, events, submitted, std::move(status), std::move(response));
    }
    // The request is freed now; its bytes leave the budget (outside the lock: this wakes streams
    // waiting for it, maybe this one). `this` may be gone once the lock is released (OnDone
    // waits for it).
    service.ReleaseBytes(bytes);
  }

  void BatchDoneLocked(uint64_t batch_id, size_t events, Clock::time_point submitted,
                       grpc::Status status, v1::IngestResponse response) {
    --in_flight_;
    const auto latency_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
    if (!status.ok()) {
      LogLine("batch_failed")
          .Add("stream_id", stream_id_)
          .Add("batch", batch_id)
          .Add("events", static_cast<uint64_t>(events))
          .Add("code", static_cast<int>(status.error_code()))
          .Add("error", status.error_message())
          .Add("latency_ms", latency_ms)
          .Error();
      FailLocked(status);
      return;
    }
    LogLine("batch_committed")
        .Add("stream_id", stream_id_)
        .Add("batch", batch_id)
        .Add("accepted", response.accepted())
        .Add("duplicates", response.duplicates())
        .Add("rejected", static_cast<uint64_t>(response.rejections_size()))
        .Add("latency_ms", latency_ms)
        .Info();
    pending_.push_back(std::move(response));
    MaybeWriteLocked();
    MaybeReadLocked();
    MaybeFinishLocked();
  }

  void FailLocked(grpc::Status status) {
    if (!failure_) failure_ = std::move(status);
    MaybeFinishLocked();
  }

  bool StoppedLocked() const { return failure_ || draining_ || cancelled_ || reads_done_; }

  void MaybeReadLocked() {
    if (reading_ || StoppedLocked() ||
        in_flight_ + static_cast<int>(pending_.size()) >=
            service_.options_.max_in_flight_per_stream) {
      return;
    }
    if (!service_.MayReadOrWait(this)) return;  // woken by WakeForBudget
    reading_ = true;
    StartRead(&read_buffer_);
  }

  void MaybeWriteLocked() {
    if (writing_ || pending_.empty() || cancelled_) return;
    writing_ = true;
    SerializeInto(pending_.front(), &write_buffer_);
    pending_.pop_front();
    ++batches_acked_;
    StartWrite(&write_buffer_);
  }

  // Finishes once nothing is in flight and every ack is written (or the client is gone).
  void MaybeFinishLocked() {
    if (finished_ || !StoppedLocked() || in_flight_ > 0 || writing_) return;
    if (!pending_.empty() && !cancelled_ && !failure_) return;
    if (reading_ && !draining_ && !failure_ && !cancelled_) return;
    finished_ = true;
    grpc::Status status = grpc::Status::OK;
    if (failure_) {
      status = *failure_;
    } else if (draining_ && !reads_done_) {
      status = grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down; reconnect");
    }
    final_code_ = status.error_code();
    Finish(status);
  }

  IngestServiceImpl& service_;
  grpc::CallbackServerContext* const context_;  // gRPC's, valid until OnDone returns
  const std::string stream_id_;
  const Clock::time_point started_;
  std::mutex mu_;
  grpc::ByteBuffer read_buffer_;
  grpc::ByteBuffer write_buffer_;
  // Bytes of a request charged but never submitted (queue full), released in OnDone.
  uint64_t unreleased_bytes_ = 0;
  std::deque<v1::IngestResponse> pending_;
  int in_flight_ = 0;
  bool reading_ = false, reads_done_ = false, writing_ = false, cancelled_ = false;
  bool draining_ = false, finished_ = false;
  std::optional<grpc::Status> failure_;
  grpc::StatusCode final_code_ = grpc::StatusCode::OK;
  uint64_t batches_received_ = 0, batches_acked_ = 0;
};

IngestServiceImpl::IngestServiceImpl(ingest::IngestPipeline& pipeline, IngestServiceOptions options,
                                     std::shared_ptr<const Authorizer> authorizer)
    : pipeline_(pipeline),
      options_(options),
      authorizer_(authorizer ? std::move(authorizer) : std::make_shared<const Authorizer>()) {}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestServiceImpl::Ingest(
    grpc::CallbackServerContext* context) {
  class Refused final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Refused(grpc::Status status) { Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };
  if (grpc::Status allowed = authorizer_->Check(*context, Role::kIngest); !allowed.ok()) {
    LogLine("call_refused")
        .Add("rpc", "Ingest")
        .Add("code", static_cast<int>(allowed.error_code()))
        .Warn();
    return new Refused(std::move(allowed));
  }
  if (draining_) return new Refused({grpc::StatusCode::UNAVAILABLE, "server is shutting down"});
  {
    std::lock_guard lock(mu_);
    if (static_cast<int>(active_.size()) >= options_.max_streams) {
      LogLine("stream_refused")
          .Add("open_streams", static_cast<uint64_t>(active_.size()))
          .Add("code", static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED))
          .Warn();
      return new Refused({grpc::StatusCode::RESOURCE_EXHAUSTED,
                          "too many open ingest streams; retry with backoff"});
    }
  }
  return new IngestStreamReactor(*this, context, "s" + std::to_string(next_stream_++));
}

grpc::ServerUnaryReactor* IngestServiceImpl::IngestBatch(grpc::CallbackServerContext* context,
                                                         const grpc::ByteBuffer* body,
                                                         grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status allowed = authorizer_->Check(*context, Role::kIngest); !allowed.ok()) {
    LogLine("call_refused")
        .Add("rpc", "IngestBatch")
        .Add("code", static_cast<int>(allowed.error_code()))
        .Warn();
    reactor->Finish(allowed);
    return reactor;
  }
  if (draining_) {
    reactor->Finish({grpc::StatusCode::UNAVAILABLE, "server is shutting down"});
    return reactor;
  }
  const uint64_t bytes = body->Length();
  auto request = std::make_shared<ArenaRequest>();
  grpc::Status valid = CheckRequestSize(bytes);
  if (valid.ok()) valid = ParseRequest(*body, *request);
  if (!valid.ok()) {
    reactor->Finish(valid);
    return reactor;
  }
  if (!TryChargeBytes(bytes)) {
    reactor->Finish({grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "in-flight ingest bytes are at --max-inflight-bytes; retry with backoff"});
    return reactor;
  }
  const std::string call_id = "u" + std::to_string(next_stream_++);
  const auto submitted = Clock::now();
  const uint64_t batch_id = request->request->batch_id();
  const bool queued = Submit(
      call_id, std::move(request), [=, this](grpc::Status status, v1::IngestResponse result) {
        const auto latency_ms =
            std::chrono::duration<double, std::milli>(Clock::now() - submitted).count();
        LogLine line(status.ok() ? "batch_committed" : "batch_failed");
        line.Add("stream_id", call_id)
            .Add("batch", batch_id)
            .Add("accepted", result.accepted())
            .Add("duplicates", result.duplicates())
            .Add("rejected", static_cast<uint64_t>(result.rejections_size()))
            .Add("code", static_cast<int>(status.error_code()))
            .Add("latency_ms", latency_ms);
        if (status.ok()) {
          line.Info();
        } else {
          line.Add("error", status.error_message()).Error();
        }
        if (status.ok()) SerializeInto(result, response);
        ReleaseBytes(bytes);
        reactor->Finish(status);
      });
  if (!queued) {
    ReleaseBytes(bytes);
    // Refused because the server began to drain after the check above, or the queue is full.
    reactor->Finish(draining_
                        ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "server is shutting down")
                        : grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                       "ingest queue is full; retry with backoff"));
  }
  return reactor;
}

grpc::Status IngestServiceImpl::ParseRequest(const grpc::ByteBuffer& body,
                                             ArenaRequest& request) const {
  // Deserialize consumes its buffer; the copy shares the received slices.
  grpc::ByteBuffer copy(body);
  if (!grpc::SerializationTraits<v1::IngestRequest>::Deserialize(&copy, request.request).ok()) {
    // What protobuf could not parse is not echoed (protobuf logs the field name of invalid UTF-8).
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "request body is not a valid sonar.v1.IngestRequest"};
  }
  return CheckRequest(*request.request);
}

grpc::Status IngestServiceImpl::CheckRequestSize(uint64_t bytes) const {
  if (bytes > options_.max_inflight_bytes) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            "request of " + std::to_string(bytes) + " bytes is larger than the ingest memory " +
                "budget (--max-inflight-bytes " + std::to_string(options_.max_inflight_bytes) +
                "); split it"};
  }
  return grpc::Status::OK;
}

grpc::Status IngestServiceImpl::CheckRequest(const v1::IngestRequest& request) const {
  if (request.events_size() == 0) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "a batch must contain at least one event"};
  }
  if (request.events_size() > options_.max_events_per_batch) {
    return {grpc::StatusCode::INVALID_ARGUMENT, "a batch may contain at most " +
                                                    std::to_string(options_.max_events_per_batch) +
                                                    " events; split it"};
  }
  return grpc::Status::OK;
}

bool IngestServiceImpl::Submit(const std::string& stream_id, std::shared_ptr<ArenaRequest> request,
                               std::function<void(grpc::Status, v1::IngestResponse)> done) {
  const v1::IngestRequest& parsed = *request->request;
  std::vector<ingest::IncomingEvent> events;
  events.reserve(parsed.events_size());
  for (const v1::Event& e : parsed.events()) events.push_back(DecodeEvent(e));
  const uint64_t batch_id = parsed.batch_id();
  // Quarantine payloads are encoded only for rejected events, from the request, which the job
  // owns from here on.
  ingest::PayloadOf payload_of = [owned = std::move(request)](
                                     size_t index, const ingest::Pseudonymizer* pseudonymizer) {
    return QuarantinePayload(owned->request->events(static_cast<int>(index)), pseudonymizer);
  };
  return pipeline_.Submit(
      std::move(events), {stream_id, batch_id}, std::move(payload_of),
      [batch_id, done = std::move(done)](absl::StatusOr<ingest::BatchResult> result) {
        v1::IngestResponse response;
        if (!result.ok()) {
          done(ToGrpcStatus(result.status()), std::move(response));
          return;
        }
        ToProto(*result, batch_id, &response);
        done(grpc::Status::OK, std::move(response));
      });
}

void IngestServiceImpl::Register(IngestStreamReactor* reactor) {
  std::lock_guard lock(mu_);
  active_.insert(reactor);
}

void IngestServiceImpl::Unregister(IngestStreamReactor* reactor) {
  std::lock_guard lock(mu_);
  active_.erase(reactor);
  {
    std::lock_guard budget_lock(budget_mu_);
    budget_waiters_.erase(reactor);
  }
  if (active_.empty()) all_done_.notify_all();
}

bool IngestServiceImpl::MayReadOrWait(IngestStreamReactor* reactor) {
  std::lock_guard lock(budget_mu_);
  if (inflight_.now < options_.max_inflight_bytes) return true;
  budget_waiters_.insert(reactor);
  return false;
}

void IngestServiceImpl::ChargeBytes(uint64_t bytes) {
  std::lock_guard lock(budget_mu_);
  inflight_.now += bytes;
  inflight_.peak = std::max(inflight_.peak, inflight_.now);
}

bool IngestServiceImpl::TryChargeBytes(uint64_t bytes) {
  std::lock_guard lock(budget_mu_);
  if (inflight_.now + bytes > options_.max_inflight_bytes) return false;
  inflight_.now += bytes;
  inflight_.peak = std::max(inflight_.peak, inflight_.now);
  return true;
}

void IngestServiceImpl::ReleaseBytes(uint64_t bytes) {
  if (bytes == 0) return;
  // mu_ keeps the woken reactors alive (Unregister takes it before a reactor is deleted).
  std::lock_guard lock(mu_);
  std::set<IngestStreamReactor*> woken;
  {
    std::lock_guard budget_lock(budget_mu_);
    inflight_.now -= bytes;
    if (inflight_.now < options_.max_inflight_bytes) woken.swap(budget_waiters_);
  }
  for (IngestStreamReactor* r : woken) {
    if (active_.count(r) > 0) r->WakeForBudget();
  }
}

InflightBytes IngestServiceImpl::inflight_bytes() const {
  std::lock_guard lock(budget_mu_);
  return inflight_;
}

bool IngestServiceImpl::Drain(std::chrono::milliseconds timeout) {
  draining_ = true;
  std::unique_lock lock(mu_);
  for (IngestStreamReactor* r : active_) r->StartDrain();
  return all_done_.wait_for(lock, timeout, [this] { return active_.empty(); });
}

}  // namespace sonar::service
