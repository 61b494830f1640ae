#include "storage/sql_array.h"

#include <charconv>

namespace sonar::storage {

void SqlArray::Add(std::string_view text) {
  if (buf_.size() > 1) buf_.push_back(',');
  buf_.push_back('"');
  for (char c : text) {
    if (c == '"' || c == '\\') buf_.push_back('\\');
    buf_.push_back(c);
  }
  buf_.push_back('"');
}

void SqlArray::Add(int64_t value) {
  if (buf_.size() > 1) buf_.push_back(',');
  buf_ += std::to_string(value);
}

void SqlArray::AddBytes(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (buf_.size() > 1) buf_.push_back(',');
  buf_ += "\"\\\\x";  // the element "\\x..." is the bytea hex input \x...
  for (unsigned char c : bytes) {
    buf_.push_back(kHex[c >> 4]);
    buf_.push_back(kHex[c & 0xF]);
  }
  buf_.push_back('"');
}

const std::string& SqlArray::Literal() {
  if (!closed_) {
    buf_.push_back('}');
    closed_ = true;
  }
  return buf_;
}

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
