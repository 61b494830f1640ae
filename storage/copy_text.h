// Rows in COPY's text format (tab-separated columns, one line per row), so a batch can be sent
// with `COPY ... FROM STDIN` instead of an INSERT over unnest()ed arrays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/time.h"

namespace sonar::storage {

class CopyText final {
 public:
  // One column of the current row: text with COPY's escapes (backslash, tab, newline, CR).
  void Add(std::string_view text);
  void Add(int64_t value);
  // A timestamptz in UTC: "2022-09-30 22:00:00.000000+00".
  void Add(core::Instant t);
  // Ends the current row.
  void EndRow();

  // The rows so far, each ended by a newline.
  [[nodiscard]] const std::string& Text() const { return buf_; }

  [[nodiscard]] size_t rows() const { return rows_; }

 private:
  void Separate();

  std::string buf_;
  bool row_open_ = false;
  size_t rows_ = 0;
};

}  // namespace sonar::storage
