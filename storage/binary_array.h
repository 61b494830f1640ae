// One-dimensional PostgreSQL arrays in the binary wire format (array_recv), so a whole batch
// travels as one parameter per column (`unnest($1::text[], ...)`) without the server parsing a
// text literal element by element: array_in was the largest single function of the write path's
// backends (BENCHMARKS.md, session 7), and binary text and bytea elements are sent as they are
// (no quoting, no hex).
//
// The element type is fixed at construction and must be the one the statement declares
// (`$1::text[]` takes kText): the server rejects any other ("binary data has array element type
// ... instead of expected ...").
#pragma once

#include <cstdint>
#include <pqxx/binarystring>
#include <string>
#include <string_view>

namespace sonar::storage {

enum class PgElement : uint32_t {  // the element type's OID (pg_type.h)
  kBytea = 17,
  kInt8 = 20,
  kInt2 = 21,
  kInt4 = 23,
  kText = 25,
  kTid = 27,
  kXid = 28,
};

class BinaryArray final {
 public:
  explicit BinaryArray(PgElement element);

  // kText or kBytea: the bytes as they are (text must be valid UTF-8 without NUL bytes).
  void Add(std::string_view bytes);
  // kInt2, kInt4 or kInt8 (narrowed to the element's width; the caller keeps it in range), or
  // kXid (an unsigned 32-bit transaction id).
  void Add(int64_t value);
  // kTid: a row's place (block, offset), as in ctid.
  void AddTid(uint32_t block, uint16_t offset);

  [[nodiscard]] size_t size() const { return count_; }

  // The array as a binary parameter (sent with format 1; libpqxx 6.4 does so for binarystring).
  [[nodiscard]] pqxx::binarystring Param();

  // The bytes Param() sends.
  [[nodiscard]] std::string_view Bytes();

 private:
  void Put32(uint32_t v);
  void Put16(uint16_t v);

  PgElement element_;
  // The header (filled in by Bytes), then each element: int32 length, then its bytes.
  std::string buf_;
  size_t count_ = 0;
};

}  // namespace sonar::storage
