// core/context.h: who is asking, as far as the audit trail cares. Filled by api/ from the
// HTTP request, by cli/ with "cli"; services pass it to the audit log unchanged.
#pragma once
#include <string>

namespace gatehouse {

struct RequestContext {
  std::string ip{};
  std::string user_agent{};
  std::string request_id{};
};

}  // namespace gatehouse
