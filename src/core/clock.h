// core/clock.h: the one source of "now". Services take a Clock& so tests can move time.
#pragma once
#include <chrono>
#include <cstdint>

namespace gatehouse {

using TimePoint = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
  std::int64_t now_unix() const;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
};

std::int64_t to_unix(TimePoint t);
TimePoint from_unix(std::int64_t seconds);

}  // namespace gatehouse
