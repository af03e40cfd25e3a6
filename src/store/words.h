// store/words.h: how every backend stores a list (roles, scopes, redirect URIs): its items
// joined by single spaces. Header-only, so a backend library needs no link to gh_store.
#pragma once
#include <string>
#include <vector>

namespace gatehouse::store {

inline std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out += w;
  }
  return out;
}

// Empty items (a run of spaces) are dropped.
inline std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find(' ', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

}  // namespace gatehouse::store
