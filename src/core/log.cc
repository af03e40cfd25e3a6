#include "core/log.h"

#include <cstdint>
#include <cstring>

#include "core/utf8.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

namespace gatehouse::log {
namespace {

std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = spdlog::stderr_logger_mt("gatehouse");
  // The message is already the JSON body after "level"; spdlog adds time and level.
  logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::info);
  return logger;
}

spdlog::logger& logger() {
  static std::shared_ptr<spdlog::logger> instance = make_logger();
  return *instance;
}

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void init(Level min_level) { logger().set_level(to_spdlog(min_level)); }

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  auto& l = logger();
  if (!l.should_log(to_spdlog(level))) return;
  std::string body = "\"msg\":";
  append_json_string(body, message);
  for (const auto& [key, value] : fields) {
    body.push_back(',');
    append_json_string(body, key);
    body.push_back(':');
    append_json_string(body, value);
  }
  l.log(to_spdlog(level), "{}", body);
}

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  std::size_t i = 0;
  while (i < s.size()) {
    // Copy the run of printable ASCII that needs no escaping in one append: audit lines and
    // token claims are almost all of it.
    std::size_t plain = i;
    // Eight bytes at a time while none of them needs escaping (SWAR): a byte below 0x20, 0x7F,
    // 0x80 and above, '"' or '\\' stops it, and the byte loop below takes over.
    while (plain + 8 <= s.size()) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + plain, 8);
      constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
      const auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHigh; };
      // Each test answers "is any byte ..." exactly (which byte may be off; that is not needed).
      const std::uint64_t special = has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\')) |
                                    has_zero(w ^ (kOnes * 0x7F)) |
                                    ((w - kOnes * 0x20) & ~w & kHigh) |  // a byte below 0x20
                                    (w & kHigh);                         // a byte at 0x80 or above
      if (special) break;
      plain += 8;
    }
    while (plain < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[plain]);
      if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') break;
      ++plain;
    }
    out.append(s.data() + i, plain - i);
    if (plain == s.size()) break;
    i = plain;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else if (const std::size_t n = utf8_sequence_length(s, i)) {
          out.append(s.substr(i, n));
          i += n - 1;
        } else {
          out += "\\ufffd";  // keep the output valid JSON whatever bytes came in
        }
    }
    ++i;
  }
  out.push_back('"');
}

}  // namespace gatehouse::log
