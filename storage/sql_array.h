// PostgreSQL array literals, so a whole batch travels as one parameter per column
// (`unnest($1::text[], ...)`): one statement per batch instead of one per row.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sonar::storage {

// Collects one column's values and renders `{"a","b"}` with quotes and backslashes escaped.
class SqlArray final {
 public:
  void Add(std::string_view text);
  void Add(int64_t value);
  // bytea element in hex form, for a `::bytea[]` parameter.
  void AddBytes(std::string_view bytes);
  [[nodiscard]] const std::string& Literal();

 private:
  std::string buf_ = "{";
  bool closed_ = false;
};

// Parses a one-dimensional text[] result such as `{a,"b c",NULL}` (NULL becomes "").
[[nodiscard]] std::vector<std::string> ParseTextArray(std::string_view literal);

// Parses a one-dimensional integer array result such as `{1,-2,3}` into `out` (replacing its
// contents); false on anything else (NULL elements included).
[[nodiscard]] bool ParseIntArray(std::string_view literal, std::vector<int64_t>& out);

}  // namespace sonar::storage
