# Fails when a file outside actors/ and tests/ includes a CAF header: CAF stays
# behind the order gateway and actor_runtime, so a later port of CAF (1.0
# renamed much of its API) touches one folder. Run by ctest as
# `check:caf-confined`; SOURCE_DIR is the project root.
file(GLOB_RECURSE candidates
     "${SOURCE_DIR}/src/*.cpp" "${SOURCE_DIR}/src/*.hpp"
     "${SOURCE_DIR}/include/*.hpp" "${SOURCE_DIR}/include/*.cpp"
     "${SOURCE_DIR}/bench/*.cpp" "${SOURCE_DIR}/bench/*.hpp")
set(offenders "")
foreach(f IN LISTS candidates)
  file(STRINGS "${f}" hits REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]caf/")
  if(hits)
    file(RELATIVE_PATH rel "${SOURCE_DIR}" "${f}")
    list(APPEND offenders "${rel}: ${hits}")
  endif()
endforeach()
list(LENGTH candidates checked)
if(checked EQUAL 0)
  message(FATAL_ERROR "no sources found under ${SOURCE_DIR}: wrong SOURCE_DIR?")
endif()
if(offenders)
  string(REPLACE ";" "\n  " listing "${offenders}")
  message(FATAL_ERROR "CAF headers included outside actors/ and tests/:\n  ${listing}")
endif()
message(STATUS "no CAF include in ${checked} files outside actors/ and tests/")
