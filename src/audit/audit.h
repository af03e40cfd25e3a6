// audit/audit.h: every authentication event, stored and written as one JSON line.
// Services say what happened (`audit_.record(ctx, AuditEvent{...})`); nothing here knows HTTP.
// Never put a password, token or key in an event: ids, usernames and reasons only.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>
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
  // Several lines, as one write where the sink can.
  virtual void write_lines(const std::vector<std::string>& lines) {
    for (const auto& line : lines) write_line(line);
  }
};

// stderr, or a file opened for append. Thread-safe.
std::unique_ptr<LineSink> open_line_sink(const std::string& path_or_empty);

// The JSON line and the store row are written at once, unless the background writer runs
// (the server starts it): then both are queued and written every `interval`, the rows in one
// transaction per batch and the lines in one write, so a burst of events (a token endpoint at
// thousands of requests per second) costs one commit and one write per batch instead of one
// each. flush() waits until every event recorded so far is written; GET /api/audit and
// shutdown call it. A kill -9 may lose the last interval's events (at most 20 ms).
class AuditLog {
 public:
  AuditLog(store::AuditStore& store, std::unique_ptr<LineSink> sink, const Clock& clock);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  void record(const RequestContext& ctx, const AuditEvent& event);
  void start_background_writer(std::chrono::milliseconds interval = std::chrono::milliseconds(20));
  void flush();

  // The JSON object of one event, as written to the sink and served by GET /api/audit.
  static std::string to_json(const store::AuditRecord& record);

 private:
  // The record's members and closing brace, after an opening '{' the caller wrote.
  static void append_fields(std::string& out, const store::AuditRecord& record);

  void store_now(const std::vector<store::AuditRecord>& records);
  struct Queued {
    store::AuditRecord record;
    std::string line;
  };
  void writer_loop(std::chrono::milliseconds interval);

  // Beyond this many queued rows (the store is down or slow), record() stores its own row
  // before returning: memory stays bounded and nothing is dropped.
  static constexpr std::size_t kMaxQueued = 50000;

  store::AuditStore& store_;
  std::unique_ptr<LineSink> sink_;
  const Clock& clock_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable stored_;
  std::vector<Queued> queue_;
  std::uint64_t queued_total_{0};  // rows ever queued
  std::uint64_t stored_total_{0};  // of those, rows the writer has handled
  bool background_{false};
  bool stopping_{false};
  bool flush_wanted_{false};  // someone waits in flush(): write now, not at the next interval
  std::thread writer_;
};

}  // namespace gatehouse::audit
