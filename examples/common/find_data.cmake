# Included by the Omniglot smoke tests (cmake -P scripts) at test time: sets DATA_DIR to
# $MANN_DATA_DIR (or its omniglot/ subfolder), else ${SOURCE_DIR}/data/omniglot, and DATA_MISSING.
# No data there: one SKIP line (the tests' SKIP_REGULAR_EXPRESSION) and DATA_MISSING is TRUE --
# unless MANN_DATA_DIR is set, which is then a failure (it was asked for and holds nothing).
function(mann_has_omniglot dir out)
  set(found TRUE)
  foreach(set images_background images_evaluation)
    if(NOT IS_DIRECTORY "${dir}/${set}" AND NOT EXISTS "${dir}/${set}.zip")
      set(found FALSE)
    endif()
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

set(DATA_MISSING FALSE)
if(DEFINED ENV{MANN_DATA_DIR} AND NOT "$ENV{MANN_DATA_DIR}" STREQUAL "")
  set(DATA_DIR "$ENV{MANN_DATA_DIR}")
  mann_has_omniglot("${DATA_DIR}" found)
  if(NOT found)
    mann_has_omniglot("${DATA_DIR}/omniglot" found)
    if(NOT found)
      message(FATAL_ERROR "MANN_DATA_DIR is ${DATA_DIR}, which holds neither images_background(.zip) and "
                          "images_evaluation(.zip) nor an omniglot/ folder with them")
    endif()
    set(DATA_DIR "${DATA_DIR}/omniglot")
  endif()
else()
  set(DATA_DIR "${SOURCE_DIR}/data/omniglot")
  mann_has_omniglot("${DATA_DIR}" found)
  if(NOT found)
    message("SKIP: no Omniglot data: set MANN_DATA_DIR to the folder with images_background.zip and "
            "images_evaluation.zip, or put them in ${DATA_DIR} (the omniglot example downloads them to ./data/omniglot)")
    set(DATA_MISSING TRUE)
  endif()
endif()
