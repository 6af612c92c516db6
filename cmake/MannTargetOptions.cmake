# Flags for mann's own targets (tests, benchmarks, examples); never applied to users of mann::mann.

# mann_target_options(<target>): warnings as errors, -march=native, optional sanitizers.
function(mann_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror)
  # NOTE: GCC 12's own AVX-512 intrinsics (`__m256d __Y = __Y;` in avxintrin.h) trip
  # -W(maybe-)uninitialized once inlined into Eigen with -march=native (GCC bug 105593, fixed in 13).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-maybe-uninitialized -Wno-uninitialized)
  endif()
  # Eigen's GEMM takes its packing buffers from the heap above EIGEN_STACK_ALLOCATION_LIMIT (128 KiB
  # by default); at the paper's sizes they are larger, so our targets raise the limit and a training
  # step allocates nothing. Users who want the same define it the same way.
  target_compile_definitions(${target} PRIVATE EIGEN_STACK_ALLOCATION_LIMIT=2097152)
  if(MANN_NATIVE)
    target_compile_options(${target} PRIVATE -march=native)
  endif()
  if(MANN_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()
