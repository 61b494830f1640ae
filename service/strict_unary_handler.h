// A unary callback-API method handler that answers INVALID_ARGUMENT ("request body is not a valid
// <message name>", nothing of the body echoed) to a request protobuf cannot parse. gRPC 1.51's own
// handler, which the generated WithCallbackMethod_* classes install, answers such a request with
// UNIMPLEMENTED and an empty message, as if the method did not exist.
//
// A service keeps its typed handler methods and re-registers them in its constructor (the method
// index is the RPC's position in the .proto service):
//
//   MarkMethodCallback(0, NewStrictUnaryHandler(this, &QueryServiceImpl::GetLiveCounts));
//
// How: it wraps the handler the generated code uses (grpc::internal::CallbackUnaryHandler) and
// gives it a message allocator whose per-call holder records a failed parse; the failed parse is
// then passed on as success with an empty request, and the method is never called for it.
// StrictServerStreamingHandler does the same for a server-streaming method (WatchLiveCounts):
// gRPC's handler would finish such a call with UNIMPLEMENTED too. (Bidirectional streams use raw
// ByteBuffer methods instead; see IngestServiceImpl.)
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/support/message_allocator.h>

#include <functional>
#include <mutex>
#include <string>
#include <unordered_set>
#include <utility>

namespace sonar::service {

template <class Request, class Response>
class StrictUnaryHandler final : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::ServerUnaryReactor*(grpc::CallbackServerContext*,
                                                         const Request*, Response*)>;

  explicit StrictUnaryHandler(Method method)
      : inner_([method = std::move(method)](grpc::CallbackServerContext* context,
                                            const Request* request, Response* response) {
          if (static_cast<Messages*>(context->GetRpcAllocatorState())->undecodable) {
            grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
            reactor->Finish({grpc::StatusCode::INVALID_ARGUMENT,
                             "request body is not a valid " + Request::descriptor()->full_name()});
            return reactor;
          }
          return method(context, request, response);
        }) {
    inner_.SetMessageAllocator(&allocator_);
  }

  void RunHandler(const HandlerParameter& param) override { inner_.RunHandler(param); }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* body, grpc::Status* status,
                    void** handler_data) override {
    void* request = inner_.Deserialize(call, body, status, handler_data);
    if (status->ok()) return request;
    auto* messages = static_cast<Messages*>(*handler_data);
    messages->undecodable = true;
    messages->request()->Clear();
    *status = grpc::Status::OK;
    return messages->request();
  }

 private:
  // One call's messages, on the heap (gRPC's default holder lives in the call's arena).
  struct Messages final : grpc::MessageHolder<Request, Response> {
    Messages() {
      this->set_request(&request_message);
      this->set_response(&response_message);
    }
    void Release() override { delete this; }
    Request request_message;
    Response response_message;
    bool undecodable = false;
  };
  struct Allocator final : grpc::MessageAllocator<Request, Response> {
    grpc::MessageHolder<Request, Response>* AllocateMessages() override { return new Messages; }
  };

  Allocator allocator_;
  grpc::internal::CallbackUnaryHandler<Request, Response> inner_;
};

// A StrictUnaryHandler calling `service->*method` (the typed callback method the generated code
// would call). The caller (grpc::Service::MarkMethodCallback) takes ownership.
template <class Service, class Request, class Response>
[[nodiscard]] grpc::internal::MethodHandler* NewStrictUnaryHandler(
    Service* service, grpc::ServerUnaryReactor* (Service::*method)(grpc::CallbackServerContext*,
                                                                   const Request*, Response*)) {
  return new StrictUnaryHandler<Request, Response>(
      [service, method](grpc::CallbackServerContext* context, const Request* request,
                        Response* response) {
        return (service->*method)(context, request, response);
      });
}

// A server-streaming callback handler that answers INVALID_ARGUMENT to an undecodable request
// (see above). gRPC's handler allocates the request in the call's arena and passes it on to
// RunHandler; on a failed parse this one allocates an empty request instead, remembers its
// address until RunHandler for that call, and then finishes the call without calling the method.
template <class Request, class Response>
class StrictServerStreamingHandler final : public grpc::internal::MethodHandler {
 public:
  using Method = std::function<grpc::ServerWriteReactor<Response>*(grpc::CallbackServerContext*,
                                                                   const Request*)>;

  explicit StrictServerStreamingHandler(Method method)
      : inner_([this, method = std::move(method)](grpc::CallbackServerContext* context,
                                                  const Request* request) {
          if (TakeUndecodable(request)) {
            return static_cast<grpc::ServerWriteReactor<Response>*>(
                new Refused({grpc::StatusCode::INVALID_ARGUMENT,
                             "request body is not a valid " + Request::descriptor()->full_name()}));
          }
          return method(context, request);
        }) {}

  void RunHandler(const HandlerParameter& param) override { inner_.RunHandler(param); }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* body, grpc::Status* status,
                    void** handler_data) override {
    void* request = inner_.Deserialize(call, body, status, handler_data);
    if (status->ok()) return request;
    auto* empty = new (grpc::g_core_codegen_interface->grpc_call_arena_alloc(call, sizeof(Request)))
        Request();
    {
      std::lock_guard lock(mu_);
      undecodable_.insert(empty);
    }
    *status = grpc::Status::OK;
    return empty;
  }

 private:
  class Refused final : public grpc::ServerWriteReactor<Response> {
   public:
    explicit Refused(grpc::Status status) { this->Finish(std::move(status)); }
    void OnDone() override { delete this; }
  };

  bool TakeUndecodable(const Request* request) {
    std::lock_guard lock(mu_);
    return undecodable_.erase(request) != 0;
  }

  std::mutex mu_;
  std::unordered_set<const void*> undecodable_;
  grpc::internal::CallbackServerStreamingHandler<Request, Response> inner_;
};

// A StrictServerStreamingHandler calling `service->*method`; the caller takes ownership.
template <class Service, class Request, class Response>
[[nodiscard]] grpc::internal::MethodHandler* NewStrictServerStreamingHandler(
    Service* service,
    grpc::ServerWriteReactor<Response>* (Service::*method)(grpc::CallbackServerContext*,
                                                           const Request*)) {
  return new StrictServerStreamingHandler<Request, Response>(
      [service, method](grpc::CallbackServerContext* context, const Request* request) {
        return (service->*method)(context, request);
      });
}

}  // namespace sonar::service
