#include "storage/sql_array.h"

#include <charconv>

namespace sonar::storage {

std::vector<std::string> ParseTextArray(std::string_view s) {
  std::vector<std::string> out;
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return out;
  s = s.substr(1, s.size() - 2);
  size_t i = 0;
  while (i < s.size()) {
    std::string item;
    if (s[i] == '"') {
      for (++i; i < s.size() && s[i] != '"'; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        item.push_back(s[i]);
      }
      ++i;  // closing quote
    } else {
      const size_t end = s.find(',', i);
      item = std::string(s.substr(i, end == std::string_view::npos ? s.size() - i : end - i));
      if (item == "NULL") item.clear();
      i = end == std::string_view::npos ? s.size() : end;
    }
    out.push_back(std::move(item));
    if (i < s.size() && s[i] == ',') ++i;
  }
  return out;
}

bool ParseIntArray(std::string_view s, std::vector<int64_t>& out) {
  out.clear();
  if (s.size() < 2 || s.front() != '{' || s.back() != '}') return false;
  const char* p = s.data() + 1;
  const char* const end = s.data() + s.size() - 1;
  while (p < end) {
    int64_t v = 0;
    const auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) return false;
    out.push_back(v);
    p = next;
    if (p < end) {
      if (*p != ',') return false;
      ++p;
      if (p == end) return false;  // trailing comma
    }
  }
  return true;
}

}  // namespace sonar::storage
