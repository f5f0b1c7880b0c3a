# Fails when an include points up DESIGN.md's layers:
#   core <- persistence, channels, config, actors/policy <- actors <- http <- main.cpp
# Usage: cmake -DROOT=<source dir> -P CheckLayers.cmake
# (also run by the layers test, tests/CMakeLists.txt)
cmake_minimum_required(VERSION 3.18)
if(NOT ROOT)
  message(FATAL_ERROR "CheckLayers: pass -DROOT=<source dir>")
endif()

# folder -> the project folders its files may include from
set(allowed_core "core")
set(allowed_persistence "core;persistence")
set(allowed_channels "core;channels")
set(allowed_config "core;config")
set(allowed_actors/policy "core;actors/policy")
set(allowed_actors "core;persistence;channels;config;actors/policy;actors")
set(allowed_http "core;persistence;channels;config;actors/policy;actors;http")
set(project_folders core persistence channels config actors http)

set(layers core persistence channels config actors/policy actors http)
set(violations "")
foreach(layer IN LISTS layers)
  # A sub-folder belongs to its folder's layer (persistence/sql,
  # persistence/detail) unless it is a layer of its own (actors/policy).
  file(GLOB_RECURSE rel_files RELATIVE "${ROOT}"
       "${ROOT}/${layer}/*.hpp" "${ROOT}/${layer}/*.cpp")
  foreach(other IN LISTS layers)
    if(other MATCHES "^${layer}/")
      list(FILTER rel_files EXCLUDE REGEX "^${other}/")
    endif()
  endforeach()
  set(files "")
  foreach(rel IN LISTS rel_files)
    list(APPEND files "${ROOT}/${rel}")
  endforeach()
  foreach(file IN LISTS files)
    file(STRINGS "${file}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS includes)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" path "${line}")
      string(REGEX MATCH "^[^/]+" top "${path}")
      if(NOT top IN_LIST project_folders)
        continue() # a header of the same folder without its path, or generated
      endif()
      # actors/policy/x.hpp counts as the policy layer, actors/x.hpp as actors
      if(path MATCHES "^actors/policy/")
        set(top "actors/policy")
      endif()
      if(NOT top IN_LIST allowed_${layer})
        file(RELATIVE_PATH rel "${ROOT}" "${file}")
        string(APPEND violations "\n  ${rel}: #include \"${path}\" (${layer} may include ${allowed_${layer}})")
      endif()
    endforeach()
  endforeach()
endforeach()

if(violations)
  message(FATAL_ERROR "Includes that point up the layers (DESIGN.md \"Layers\"):${violations}")
endif()
