# TALLY_SANITIZE=address adds ASan+UBSan, TALLY_SANITIZE=thread adds TSan, to every target.
# TALLY_SANITIZE=fuzzer (clang only, the `fuzz` preset) adds ASan+UBSan and libFuzzer's coverage
# instrumentation to every target; the fuzz targets of tests/fuzz link libFuzzer itself
# (-fsanitize=fuzzer, see tests/fuzz/CMakeLists.txt).
if(TALLY_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(TALLY_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(TALLY_SANITIZE STREQUAL "fuzzer")
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "TALLY_SANITIZE=fuzzer needs clang (the fuzz preset uses clang++-14)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT TALLY_SANITIZE STREQUAL "")
  message(FATAL_ERROR "TALLY_SANITIZE must be empty, 'address', 'thread' or 'fuzzer', not '${TALLY_SANITIZE}'")
endif()
