# Writes OUT, a C++ file defining `const char* herald::FUNCTION()` that
# returns the text of IN (the dashboard page): the node serves it without
# any file beside the binary. Run by CMakeLists.txt at build time.
file(READ "${IN}" text)
set(delim "herald_embed")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string delimiter ${delim}")
endif()
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by cmake/EmbedFile.cmake: do not edit.\n"
  "namespace herald {\n"
  "const char* ${FUNCTION}() {\n"
  "  return R\"${delim}(${text})${delim}\";\n"
  "}\n"
  "} // namespace herald\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
