# Runs PROGRAM on 2 ranks with MPIEXEC (Open MPI) and passes only if the job ends by itself, with a
# non-zero exit code and EXPECTED (a plain string, not a regular expression) on stderr. A job that
# hangs is ended by mpirun's --timeout (45 s) or, failing that, by execute_process after 60 s, and
# fails the test. (ctest's PASS_REGULAR_EXPRESSION alone would ignore the exit code.)
# cmake -DMPIEXEC=<mpiexec> -DPROGRAM=<executable> -DEXPECTED=<text> -P expect_abort.cmake
foreach(variable MPIEXEC PROGRAM EXPECTED)
  if(NOT DEFINED ${variable})
    message(FATAL_ERROR "expect_abort.cmake: -D${variable}=... is missing")
  endif()
endforeach()

execute_process(
  COMMAND ${MPIEXEC} -np 2 --oversubscribe --allow-run-as-root --timeout 45 ${PROGRAM}
  RESULT_VARIABLE code OUTPUT_VARIABLE output ERROR_VARIABLE errors TIMEOUT 60)
message(STATUS "exit code: ${code}\n--- stdout\n${output}--- stderr\n${errors}---")

if(code STREQUAL "0")
  message(FATAL_ERROR "the job exited with code 0, expected it to abort")
endif()
if(NOT code MATCHES "^[0-9]+$")
  message(FATAL_ERROR "the job did not end by itself: ${code}")
endif()
string(FIND "${errors}" "time limit for job execution has been reached" timed_out)
if(NOT timed_out EQUAL -1)
  message(FATAL_ERROR "the job hung until mpirun's --timeout ended it")
endif()
string(FIND "${errors}" "${EXPECTED}" found)
if(found EQUAL -1)
  message(FATAL_ERROR "stderr does not contain \"${EXPECTED}\"")
endif()
