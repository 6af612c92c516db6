# Builds tests/packaging/consumer against mann: MODE=find_package installs mann to a temporary
# prefix first; MODE=add_subdirectory builds it in-tree. Fails on any error.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "command failed (${result}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
set(consumer_src ${MANN_SOURCE_DIR}/tests/packaging/consumer)
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${MANN_SOURCE_DIR} -B ${WORK_DIR}/mann-build -G ${GENERATOR}
      -DCMAKE_INSTALL_PREFIX=${WORK_DIR}/prefix -DMANN_BUILD_TESTS=OFF -DMANN_BUILD_BENCH=OFF
      -DMANN_BUILD_EXAMPLES=OFF -DMANN_INSTALL=ON)
  run(${CMAKE_COMMAND} --install ${WORK_DIR}/mann-build)
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/consumer-build -G ${GENERATOR}
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DMODE=find_package
      -DREADME_PROGRAMS=${MANN_SOURCE_DIR}/examples/readme)
else()
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK_DIR}/consumer-build -G ${GENERATOR}
      -DMANN_SOURCE_DIR=${MANN_SOURCE_DIR} -DMODE=add_subdirectory)
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
message(STATUS "consumer (${MODE}) built and ran")
