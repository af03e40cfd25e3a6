// audit/audit.h: every authentication event, stored and written as one JSON line.
// Services say what happened (`audit_.record(ctx, AuditEvent{...})`); nothing here knows HTTP.
// Never put a password, token or key in an event: ids, usernames and reasons only.
#pragma once
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/context.h"
#include "store/store.h"

namespace gatehouse::audit {

struct AuditEvent {
  std::string type{};  // "login.success", "token.reuse_detected", ...
  bool success{true};
  std::string user_id{};
  std::string username{};
  std::vector<std::pair<std::string, std::string>> detail{};
};

// Where the JSON lines go.
class LineSink {
 public:
  virtual ~LineSink() = default;
  virtual void write_line(const std::string& line) = 0;
};

// stderr, or a file opened for append. Thread-safe.
std::unique_ptr<LineSink> open_line_sink(const std::string& path_or_empty);

class AuditLog {
 public:
  AuditLog(store::AuditStore& store, std::unique_ptr<LineSink> sink, const Clock& clock);
  void record(const RequestContext& ctx, const AuditEvent& event);

  // The JSON object of one event, as written to the sink and served by GET /api/audit.
  static std::string to_json(const store::AuditRecord& record);

 private:
  store::AuditStore& store_;
  std::unique_ptr<LineSink> sink_;
  const Clock& clock_;
};

}  // namespace gatehouse::audit
