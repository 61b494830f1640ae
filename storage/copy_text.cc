#include "storage/copy_text.h"

#include <charconv>
#include <chrono>

namespace sonar::storage {
namespace {

// Appends `value` as exactly `width` decimal digits (value < 10^width).
void AppendDigits(std::string& out, int64_t value, int width) {
  char digits[20];
  for (int i = width - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.append(digits, static_cast<size_t>(width));
}

}  // namespace

void CopyText::Separate() {
  if (row_open_) buf_.push_back('\t');
  row_open_ = true;
}

void CopyText::Add(std::string_view text) {
  Separate();
  // Runs without a character to escape (usually the whole field) are appended at once.
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const char* escaped = c == '\\'   ? "\\\\"
                          : c == '\t' ? "\\t"
                          : c == '\n' ? "\\n"
                          : c == '\r' ? "\\r"
                                      : nullptr;
    if (escaped == nullptr) continue;
    buf_.append(text.substr(run, i - run)).append(escaped, 2);
    run = i + 1;
  }
  buf_.append(text.substr(run));
}

void CopyText::Add(int64_t value) {
  Separate();
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  buf_.append(digits, end);
}

void CopyText::Add(core::Instant t) {
  using namespace std::chrono;
  Separate();
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const int64_t micros = (t - day).count();  // 0 <= micros < 86'400'000'000
  const int year = static_cast<int>(ymd.year());
  if (year < 1 || year > 9999) {
    // Beyond the four-digit form below (validation keeps events within 2015..now): the RFC 3339
    // form, which PostgreSQL reads for years after 9999 and refuses, loudly, before year 1.
    buf_ += core::FormatInstant(t);
    return;
  }
  AppendDigits(buf_, year, 4);
  buf_.push_back('-');
  AppendDigits(buf_, static_cast<unsigned>(ymd.month()), 2);
  buf_.push_back('-');
  AppendDigits(buf_, static_cast<unsigned>(ymd.day()), 2);
  buf_.push_back(' ');
  const int64_t secs = micros / 1'000'000;
  AppendDigits(buf_, secs / 3600, 2);
  buf_.push_back(':');
  AppendDigits(buf_, secs / 60 % 60, 2);
  buf_.push_back(':');
  AppendDigits(buf_, secs % 60, 2);
  buf_.push_back('.');
  AppendDigits(buf_, micros % 1'000'000, 6);
  buf_ += "+00";
}

void CopyText::EndRow() {
  buf_.push_back('\n');
  row_open_ = false;
  ++rows_;
}

}  // namespace sonar::storage
