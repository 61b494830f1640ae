#include "core/event.h"

namespace sonar::core {

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kClientRegistered:
      return "client_registered";
    case EventKind::kClientDeregistered:
      return "client_deregistered";
    case EventKind::kProfileCompleted:
      return "profile_completed";
    case EventKind::kProfileWithdrawn:
      return "profile_withdrawn";
    case EventKind::kRegistrantChanged:
      return "registrant_changed";
    case EventKind::kClientMoved:
      return "client_moved";
    case EventKind::kTargetGroupEntered:
      return "target_group_entered";
    case EventKind::kTargetGroupLeft:
      return "target_group_left";
    case EventKind::kUnspecified:
      break;
  }
  return "unspecified";
}

}  // namespace sonar::core
