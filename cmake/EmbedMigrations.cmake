# Turns the migration files into a C++ table: {version, name, sql}.
# Called at build time with -DOUT=... -DFILES=a.sql|b.sql
set(body "// Generated from persistence/migrations/*.sql; do not edit.\n#include \"persistence/migrations.hpp\"\nnamespace herald {\nconst std::vector<migration>& migrations() {\n  static const std::vector<migration> xs{\n")
string(REPLACE "|" ";" FILES "${FILES}")
foreach(f IN LISTS FILES)
  get_filename_component(name "${f}" NAME_WE)
  string(REGEX MATCH "^[0-9]+" version "${name}")
  # 0008 would be an invalid octal literal in C++: drop leading zeros.
  string(REGEX REPLACE "^0+([0-9])" "\\1" version "${version}")
  file(READ "${f}" sql)
  string(APPEND body "    {${version}, \"${name}\", R\"herald_sql(${sql})herald_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return xs;\n}\n} // namespace herald\n")
file(WRITE "${OUT}.tmp" "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
