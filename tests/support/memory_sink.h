// tests/support/memory_sink.h: an audit line sink that keeps lines for assertions.
#pragma once
#include <mutex>
#include <string>
#include <vector>

#include "audit/audit.h"

namespace gatehouse::testing {

class MemorySink final : public audit::LineSink {
 public:
  explicit MemorySink(std::vector<std::string>* lines) : lines_(lines) {}
  void write_line(const std::string& line) override {
    std::lock_guard lock(mutex_);
    lines_->push_back(line);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string>* lines_;
};

}  // namespace gatehouse::testing
