// core/log.h: operational logs, one JSON object a line on stderr (spdlog underneath).
// Callers pass fields that are safe to log: never a password, token, key or secret.
#pragma once
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace gatehouse::log {

enum class Level { debug, info, warn, error };

using Field = std::pair<std::string_view, std::string_view>;

void init(Level min_level);
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

// Appends s to out as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view s);

}  // namespace gatehouse::log
