#include "audit/audit.h"

#include <climits>

#include "core/log.h"
#include "core/random.h"
#include "core/time.h"

namespace gatehouse::audit {
namespace {

class FileSink final : public LineSink {
 public:
  FileSink(std::FILE* file, bool owned) : file_(file), owned_(owned) {}
  ~FileSink() override {
    if (owned_) std::fclose(file_);
  }
  void write_line(const std::string& line) override { write_lines({line}); }
  // stderr is unbuffered: a line and its newline written apart cost two system calls per event.
  // Lines go out whole, several per write(2) up to PIPE_BUF bytes, so on a pipe no other
  // writer's output can land inside them. A line longer than that (a huge User-Agent) goes out
  // alone, and is as atomic as it always was: not guaranteed.
  void write_lines(const std::vector<std::string>& lines) override {
    std::string buffer;
    buffer.reserve(PIPE_BUF);
    std::lock_guard lock(mutex_);
    for (const auto& line : lines) {
      if (!buffer.empty() && buffer.size() + line.size() + 1 > PIPE_BUF) flush_buffer(buffer);
      buffer += line;
      buffer.push_back('\n');
    }
    flush_buffer(buffer);
  }

 private:
  void flush_buffer(std::string& buffer) {
    std::fwrite(buffer.data(), 1, buffer.size(), file_);
    std::fflush(file_);
    buffer.clear();
  }

  std::mutex mutex_;
  std::FILE* file_;
  bool owned_;
};

std::string detail_json(const std::vector<std::pair<std::string, std::string>>& detail) {
  std::string out = "{";
  for (const auto& [k, v] : detail) {
    if (out.size() > 1) out.push_back(',');
    log::append_json_string(out, k);
    out.push_back(':');
    log::append_json_string(out, v);
  }
  out.push_back('}');
  return out;
}

}  // namespace

std::unique_ptr<LineSink> open_line_sink(const std::string& path) {
  if (path.empty()) return std::make_unique<FileSink>(stderr, false);
  std::FILE* f = std::fopen(path.c_str(), "a");
  if (!f) throw std::runtime_error("audit.file: cannot open " + path + " for appending");
  return std::make_unique<FileSink>(f, true);
}

AuditLog::AuditLog(store::AuditStore& store, std::unique_ptr<LineSink> sink, const Clock& clock)
    : store_(store), sink_(std::move(sink)), clock_(clock) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();  // the writer stores what is left before it ends
}

void AuditLog::start_background_writer(std::chrono::milliseconds interval) {
  std::lock_guard lock(mutex_);
  if (background_) return;
  background_ = true;
  writer_ = std::thread([this, interval] { writer_loop(interval); });
}

void AuditLog::writer_loop(std::chrono::milliseconds interval) {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait_for(lock, interval, [this] { return stopping_ || (!queue_.empty() && flush_wanted_); });
    if (!queue_.empty()) {
      std::vector<Queued> batch;
      batch.swap(queue_);
      lock.unlock();
      std::vector<std::string> lines;
      std::vector<store::AuditRecord> records;
      lines.reserve(batch.size());
      records.reserve(batch.size());
      for (auto& q : batch) {
        lines.push_back(std::move(q.line));
        records.push_back(std::move(q.record));
      }
      sink_->write_lines(lines);
      store_now(records);
      lock.lock();
      stored_total_ += batch.size();
      flush_wanted_ = false;
      stored_.notify_all();
    }
    if (stopping_ && queue_.empty()) return;
  }
}

void AuditLog::store_now(const std::vector<store::AuditRecord>& records) {
  if (records.empty()) return;
  auto stored = records.size() == 1 ? store_.append_audit(records.front()) : store_.append_audits(records);
  if (!stored)
    log::error("audit events not stored", {{"count", std::to_string(records.size())}, {"reason", stored.error().message}});
}

void AuditLog::flush() {
  std::unique_lock lock(mutex_);
  if (!background_) return;
  const std::uint64_t target = queued_total_;
  flush_wanted_ = true;
  wake_.notify_all();
  stored_.wait(lock, [&] { return stored_total_ >= target; });
}

void AuditLog::record(const RequestContext& ctx, const AuditEvent& event) {
  const auto now = clock_.now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  store::AuditRecord record{.seq = 0,
                                  .id = new_id(millis),
                                  .time = to_unix(now),
                                  .type = event.type,
                                  .outcome = event.success ? "success" : "failure",
                                  .user_id = event.user_id,
                                  .username = event.username,
                                  .ip = ctx.ip,
                                  .user_agent = ctx.user_agent.substr(0, 256),
                                  .request_id = ctx.request_id,
                                  .detail_json = detail_json(event.detail)};
  std::string line;
  line.reserve(320);
  line = "{\"log\":\"audit\",";
  append_fields(line, record);
  {
    std::lock_guard lock(mutex_);
    if (background_ && !stopping_ && queue_.size() < kMaxQueued) {
      queue_.push_back(Queued{std::move(record), std::move(line)});
      ++queued_total_;
      return;
    }
  }
  sink_->write_line(line);
  store_now({record});
}

std::string AuditLog::to_json(const store::AuditRecord& r) {
  std::string out;
  out.reserve(256);
  out.push_back('{');
  append_fields(out, r);
  return out;
}

void AuditLog::append_fields(std::string& out, const store::AuditRecord& r) {
  out += "\"id\":";
  log::append_json_string(out, r.id);
  out += ",\"time\":";
  log::append_json_string(out, rfc3339(r.time));
  const std::pair<const char*, const std::string*> fields[] = {
      {"type", &r.type}, {"outcome", &r.outcome}, {"user_id", &r.user_id}, {"username", &r.username},
      {"ip", &r.ip},     {"user_agent", &r.user_agent}, {"request_id", &r.request_id}};
  for (const auto& [name, value] : fields) {
    out += ",\"";
    out += name;
    out += "\":";
    if (value->empty()) out += "null";
    else log::append_json_string(out, *value);
  }
  out += ",\"detail\":";
  out += r.detail_json.empty() ? "{}" : r.detail_json;
  out += "}";
}

}  // namespace gatehouse::audit
