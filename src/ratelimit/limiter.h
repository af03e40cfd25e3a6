// ratelimit/limiter.h: per-principal request rate limits (SPEC §9), in memory.
//
// GCRA (the generic cell rate algorithm, as in ATM networks and redis-cell): a limit of N
// requests per period P lets requests arrive one per T = P/N on average with bursts of up to
// N. Each key keeps one number, its theoretical arrival time (TAT); a request at `now` is
// allowed when TAT - now <= P - T, and then pushes TAT forward by T. It is exact (no window
// edges that let 2N through), O(1) and needs no timer. The keys are spread over 64 shards,
// each with its own mutex, so network threads rarely meet. A key whose TAT has passed is
// indistinguishable from a new one, so idle keys are dropped (sweep, and on a full shard):
// memory stays bounded by the keys active within one period.
#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace gatehouse::ratelimit {

struct Limit {
  std::int64_t count{1000};
  std::chrono::seconds period{3600};
  bool operator==(const Limit&) const = default;
  double per_second() const { return static_cast<double>(count) / static_cast<double>(period.count()); }
};

// "1000/hour", "10/minute", "5/second", "100/day", or "N/<duration>" ("30/15m").
std::optional<Limit> parse_limit(std::string_view text);
std::string to_string(const Limit& limit);
// "role=limit" (a ratelimit.roles entry) as its role and limit.
std::optional<std::pair<std::string, Limit>> parse_role_limit(std::string_view entry);

struct Decision {
  bool allowed{true};
  std::int64_t limit{0};        // RateLimit-Limit
  std::int64_t remaining{0};    // RateLimit-Remaining, after this request
  std::int64_t reset{0};        // RateLimit-Reset: seconds until the full quota is back
  std::int64_t retry_after{0};  // refused: seconds until one request is allowed again
  bool first_refusal{false};    // the first refusal of this key in this period (audit it)
};

class Limiter {
 public:
  explicit Limiter(const Clock& clock, std::size_t max_keys = 1'000'000);

  Decision check(std::string_view key, const Limit& limit);
  // Drops keys whose quota is full again (they would start over identically).
  void sweep();
  std::size_t size() const;

 private:
  struct Entry {
    std::int64_t tat_us{0};
    std::int64_t quiet_until_us{0};  // refusals before this were already reported
  };
  struct KeyHash {  // lookups by string_view, no allocation per request
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
  };
  static constexpr std::size_t kShards = 64;

  Shard& shard_of(std::string_view key);
  std::int64_t now_us() const;
  static void sweep_shard(Shard& shard, std::int64_t now);

  const Clock& clock_;
  std::size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

// Which limit applies to a principal: the API key's own, else the most generous limit among
// the principal's roles that have one, else the default.
struct Policy {
  bool enabled{true};
  Limit default_limit{};
  std::map<std::string, Limit> roles{};
};
Limit limit_for(const Policy& policy, const std::vector<std::string>& roles, const std::optional<Limit>& own);

}  // namespace gatehouse::ratelimit
