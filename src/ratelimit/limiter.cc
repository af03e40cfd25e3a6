#include "ratelimit/limiter.h"

#include <algorithm>
#include <charconv>
#include <functional>

#include "core/time.h"

namespace gatehouse::ratelimit {
namespace {

constexpr std::int64_t kMicros = 1'000'000;

std::int64_t ceil_seconds(std::int64_t us) { return us <= 0 ? 0 : (us + kMicros - 1) / kMicros; }

}  // namespace

std::optional<Limit> parse_limit(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  std::int64_t count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + slash, count);
  if (ec != std::errc{} || end != text.data() + slash || count < 1 || count > 1'000'000'000) return std::nullopt;
  const std::string_view unit = text.substr(slash + 1);
  std::optional<std::chrono::seconds> period;
  if (unit == "second" || unit == "s") period = std::chrono::seconds(1);
  else if (unit == "minute" || unit == "min") period = std::chrono::minutes(1);
  else if (unit == "hour" || unit == "h") period = std::chrono::hours(1);
  else if (unit == "day" || unit == "d") period = std::chrono::hours(24);
  else period = parse_duration(unit);
  if (!period || period->count() < 1 || period->count() > 366LL * 86400) return std::nullopt;
  return Limit{count, *period};
}

std::optional<std::pair<std::string, Limit>> parse_role_limit(std::string_view entry) {
  const auto eq = entry.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  auto limit = parse_limit(entry.substr(eq + 1));
  if (!limit) return std::nullopt;
  return std::make_pair(std::string(entry.substr(0, eq)), *limit);
}

std::string to_string(const Limit& limit) {
  const auto p = limit.period.count();
  const char* unit = p == 1 ? "second" : p == 60 ? "minute" : p == 3600 ? "hour" : p == 86400 ? "day" : nullptr;
  return std::to_string(limit.count) + "/" + (unit ? std::string(unit) : std::to_string(p) + "s");
}

Limiter::Limiter(const Clock& clock, std::size_t max_keys)
    : clock_(clock), max_per_shard_(std::max<std::size_t>(16, max_keys / kShards)) {}

Limiter::Shard& Limiter::shard_of(std::string_view key) {
  // The high bits: the map inside the shard uses the low ones.
  return shards_[(KeyHash{}(key) >> 32) % kShards];
}

std::int64_t Limiter::now_us() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch()).count();
}

void Limiter::sweep_shard(Shard& shard, std::int64_t now) {
  std::erase_if(shard.entries, [now](const auto& e) { return e.second.tat_us <= now && e.second.quiet_until_us <= now; });
}

Decision Limiter::check(std::string_view key, const Limit& limit) {
  const std::int64_t now = now_us();
  const std::int64_t period = limit.period.count() * kMicros;
  const std::int64_t interval = std::max<std::int64_t>(1, period / limit.count);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    if (shard.entries.size() >= max_per_shard_) {
      sweep_shard(shard, now);
      // Still full of active keys: forget them rather than grow (each starts with a full quota).
      if (shard.entries.size() >= max_per_shard_) shard.entries.clear();
    }
    it = shard.entries.emplace(std::string(key), Entry{}).first;
  }
  Entry& e = it->second;
  const std::int64_t tat = std::max(e.tat_us, now);
  const std::int64_t next = tat + interval;
  Decision d;
  d.limit = limit.count;
  if (next - now > period) {  // the burst allowance is used up
    d.allowed = false;
    d.remaining = 0;
    d.reset = ceil_seconds(tat - now);
    d.retry_after = std::max<std::int64_t>(1, ceil_seconds(next - period - now));
    if (now >= e.quiet_until_us) {
      d.first_refusal = true;
      e.quiet_until_us = now + period;
    }
    return d;
  }
  e.tat_us = next;
  d.remaining = std::min<std::int64_t>(limit.count, (period - (next - now)) / interval);
  d.reset = ceil_seconds(next - now);
  return d;
}

void Limiter::sweep() {
  const std::int64_t now = now_us();
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    sweep_shard(shard, now);
  }
}

std::size_t Limiter::size() const {
  std::size_t n = 0;
  for (const auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    n += shard.entries.size();
  }
  return n;
}

Limit limit_for(const Policy& policy, const std::vector<std::string>& roles, const std::optional<Limit>& own) {
  if (own) return *own;
  std::optional<Limit> best;
  for (const auto& role : roles) {
    auto it = policy.roles.find(role);
    if (it != policy.roles.end() && (!best || it->second.per_second() > best->per_second())) best = it->second;
  }
  return best.value_or(policy.default_limit);
}

}  // namespace gatehouse::ratelimit
