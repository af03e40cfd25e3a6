#include "core/clock.h"

namespace gatehouse {

std::int64_t Clock::now_unix() const { return to_unix(now()); }

TimePoint SystemClock::now() const { return std::chrono::system_clock::now(); }

std::int64_t to_unix(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

TimePoint from_unix(std::int64_t seconds) { return TimePoint{std::chrono::seconds{seconds}}; }

}  // namespace gatehouse
