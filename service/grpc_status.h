// The one place where absl::Status becomes a gRPC status (the codes are the same numbers).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace sonar::service {

[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace sonar::service
