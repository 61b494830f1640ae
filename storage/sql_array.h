// PostgreSQL arrays in the server's text output, as a result column shows them (count_changes'
// arrays are read whole and parsed here). Parameters go the other way in the binary format
// (storage/binary_array.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sonar::storage {

// Parses a one-dimensional text[] result such as `{a,"b c",NULL}` (NULL becomes "").
[[nodiscard]] std::vector<std::string> ParseTextArray(std::string_view literal);

// Parses a one-dimensional integer array result such as `{1,-2,3}` into `out` (replacing its
// contents); false on anything else (NULL elements included).
[[nodiscard]] bool ParseIntArray(std::string_view literal, std::vector<int64_t>& out);

}  // namespace sonar::storage
