# Fails unless README.md holds every examples/readme/*.cpp verbatim, inside a ```cpp block.
file(READ ${README} readme)
file(GLOB programs ${DIR}/*.cpp)
foreach(program ${programs})
  file(READ ${program} code)
  string(FIND "${readme}" "```cpp\n${code}```" at)
  if(at EQUAL -1)
    get_filename_component(name ${program} NAME)
    message(FATAL_ERROR "README.md does not show examples/readme/${name} as it is: copy the file into "
                        "README.md (a ```cpp block holding exactly the file's text)")
  endif()
endforeach()
list(LENGTH programs count)
message(STATUS "README.md shows all ${count} programs of examples/readme/")
