#include "guard.hpp"

namespace edgestate::boundary_detail {

void raise(const PendingError &pending) {
  if (pending.pg_error != nullptr) ReThrowError(pending.pg_error);
  ereport(ERROR, (errcode(pending.sqlstate), errmsg("%s", pending.message),
                  pending.detail[0] != '\0' ? errdetail("%s", pending.detail) : 0,
                  pending.hint[0] != '\0' ? errhint("%s", pending.hint) : 0));
  pg_unreachable();
}

}  // namespace edgestate::boundary_detail
