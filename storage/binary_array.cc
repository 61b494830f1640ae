#include "storage/binary_array.h"

namespace sonar::storage {
namespace {

// ndim, has-nulls flag, element type; then, per dimension, its length and lower bound.
constexpr size_t kHeaderSize = 20;
constexpr size_t kEmptyHeaderSize = 12;  // an empty array has no dimensions

char* Write32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
  return p + 4;
}

}  // namespace

BinaryArray::BinaryArray(PgElement element) : element_(element), buf_(kHeaderSize, '\0') {}

void BinaryArray::Put32(uint32_t v) {
  char b[4];
  Write32(b, v);
  buf_.append(b, 4);
}

void BinaryArray::Put16(uint16_t v) {
  const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  buf_.append(b, 2);
}

void BinaryArray::Add(std::string_view bytes) {
  Put32(static_cast<uint32_t>(bytes.size()));
  buf_.append(bytes);
  ++count_;
}

void BinaryArray::Add(int64_t value) {
  const auto v = static_cast<uint64_t>(value);
  switch (element_) {
    case PgElement::kInt2:
      Put32(2);
      Put16(static_cast<uint16_t>(v));
      break;
    case PgElement::kInt8:
      Put32(8);
      Put32(static_cast<uint32_t>(v >> 32));
      Put32(static_cast<uint32_t>(v));
      break;
    default:  // kInt4, kXid
      Put32(4);
      Put32(static_cast<uint32_t>(v));
      break;
  }
  ++count_;
}

void BinaryArray::AddTid(uint32_t block, uint16_t offset) {
  Put32(6);
  Put32(block);
  Put16(offset);
  ++count_;
}

std::string_view BinaryArray::Bytes() {
  char* p = buf_.data();
  if (count_ == 0) {
    p = Write32(Write32(Write32(p, 0), 0), static_cast<uint32_t>(element_));
    return {buf_.data(), kEmptyHeaderSize};
  }
  p = Write32(Write32(Write32(p, 1), 0), static_cast<uint32_t>(element_));
  Write32(Write32(p, static_cast<uint32_t>(count_)), 1);
  return buf_;
}

pqxx::binarystring BinaryArray::Param() {
  const std::string_view bytes = Bytes();
  return {bytes.data(), bytes.size()};
}

}  // namespace sonar::storage
