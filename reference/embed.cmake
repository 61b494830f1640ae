# NAMES is comma-separated. Writes OUTPUT: one `extern const std::string_view k_<name>` per CSV in NAMES.
set(_out "// Generated from reference/*.csv by reference/embed.cmake. Do not edit.\n")
string(APPEND _out "#include <string_view>\nnamespace sonar::reference {\n")
string(REPLACE "," ";" NAMES "${NAMES}")
foreach(name IN LISTS NAMES)
  file(READ ${INPUT_DIR}/${name}.csv _content)
  string(MAKE_C_IDENTIFIER ${name} _id)
  # Raw string literals: the CSVs never contain the delimiter.
  string(APPEND _out "extern const std::string_view k_${_id};\n")
  string(APPEND _out "const std::string_view k_${_id} = R\"sonarcsv(${_content})sonarcsv\";\n")
endforeach()
string(APPEND _out "}  // namespace sonar::reference\n")
file(WRITE ${OUTPUT} "${_out}")
