# Writes OUTPUT, a C++ source defining `std::string_view FUNCTION()` that returns
# the bytes of INPUT, so a document the repository ships (docs/openapi.json) is
# compiled into the binary from that one file. Run with cmake -P at build time.
if(NOT INPUT OR NOT OUTPUT OR NOT FUNCTION OR NOT HEADER)
  message(FATAL_ERROR "embed_text.cmake needs INPUT, OUTPUT, FUNCTION and HEADER")
endif()
file(READ "${INPUT}" content)
set(delimiter "embed")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )${delimiter}\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake; edit that file instead.\n"
  "#include \"${HEADER}\"\n\n"
  "namespace coffeeshop {\n\n"
  "std::string_view ${FUNCTION}() {\n"
  "  static constexpr char text[] = R\"${delimiter}(${content})${delimiter}\";\n"
  "  return {text, sizeof text - 1};\n"
  "}\n\n"
  "} // namespace coffeeshop\n")
# Only a changed document touches the source, so an unrelated build recompiles nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
