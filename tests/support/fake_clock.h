// tests/support/fake_clock.h: time that moves only when a test says so.
#pragma once
#include <chrono>

#include "core/clock.h"

namespace gatehouse::testing {

class FakeClock final : public Clock {
 public:
  TimePoint now() const override { return now_; }
  template <class Rep, class Period>
  void advance(std::chrono::duration<Rep, Period> by) {
    now_ += std::chrono::duration_cast<TimePoint::duration>(by);
  }

 private:
  TimePoint now_{std::chrono::sys_days{std::chrono::January / 1 / 2030}};
};

}  // namespace gatehouse::testing
