# Warnings of the house style (STYLE.md), applied to every Tally target through tally_warnings().
function(tally_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor)
  if(TALLY_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
