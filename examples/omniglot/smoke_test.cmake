# Runs the Omniglot example on 3 alphabets of each set for 320 episodes (MANN and kNN) and checks
# the final table: our row and the paper's row, six accuracies with confidence intervals, no NaN.
include(${CMAKE_CURRENT_LIST_DIR}/../common/find_data.cmake)
if(DATA_MISSING)
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
set(small --alphabets 3 --test-episodes 64 --threads 2 --data-dir ${DATA_DIR} --out-dir ${WORK_DIR})
set(schedule_mann --learning-rate 2e-4 --final-learning-rate 2e-5 --clip-norm 50 --batch 8 --keep-checkpoints
                  --augment-rotation 20 --augment-shift 12)
foreach(model mann knn)
  execute_process(
    COMMAND ${BINARY} --model ${model} --episodes 320 --eval-every 160 --eval-episodes 32 --controller-size 32
            --read-sharpness 10 ${schedule_${model}} ${small}
    RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "omniglot --model ${model} failed (${result}):\n${out}\n${err}")
  endif()
  string(TOLOWER "${out}" lower)
  if(lower MATCHES "nan")
    message(FATAL_ERROR "NaN in the report of --model ${model}:\n${out}")
  endif()
  set(cell " +[0-9]+\\.[0-9]±[0-9]+\\.[0-9]")
  if(NOT out MATCHES "\\| ours: ${model} +\\|${cell} \\|${cell} \\|${cell} \\|${cell} \\|${cell} \\|${cell} \\|")
    message(FATAL_ERROR "no well-formed result row for --model ${model}:\n${out}")
  endif()
  if(NOT out MATCHES "\\| paper: ")
    message(FATAL_ERROR "no paper row for --model ${model}:\n${out}")
  endif()
  message(STATUS "--model ${model}:\n${out}")
  set(err_${model} "${err}")
  string(REGEX MATCH "\\| ours: [^\n]*" row_${model} "${out}")
endforeach()
if(NOT EXISTS ${WORK_DIR}/mann.csv OR NOT EXISTS ${WORK_DIR}/mann.safetensors)
  message(FATAL_ERROR "the MANN run left no CSV log or checkpoint in ${WORK_DIR}")
endif()
# The final table at full precision: a header and instances 1 to 10, each with its counts.
if(NOT EXISTS ${WORK_DIR}/mann_test.csv)
  message(FATAL_ERROR "the MANN run left no mann_test.csv in ${WORK_DIR}")
endif()
file(STRINGS ${WORK_DIR}/mann_test.csv test_rows)
list(LENGTH test_rows test_row_count)
set(tenth "")
if(test_row_count EQUAL 11)
  list(GET test_rows 10 tenth)
endif()
file(GLOB leftover ${WORK_DIR}/mann_test.csv.tmp.*)
if(NOT test_row_count EQUAL 11 OR NOT tenth MATCHES "^mann,5,onehot,64,1,10,[0-9]+,[0-9]+,[0-9.e-]+,[0-9.e-]+$"
   OR leftover)
  message(FATAL_ERROR "mann_test.csv should hold the final table by instance (${test_row_count} lines):\n${test_rows}")
endif()
# The training episodes' augmentation ranges are in the banner and the checkpoint (the held-out
# episodes keep the paper's: the --eval-only row below, at the default ranges, is the trained row).
file(READ ${WORK_DIR}/mann.safetensors header OFFSET 8 LIMIT 8192)
if(NOT err_mann MATCHES "augmentation rotation ±20°, shift ±12 px"
   OR NOT header MATCHES "\"augment_rotation\":\"20\"" OR NOT header MATCHES "\"augment_shift\":\"12\"")
  message(FATAL_ERROR "--augment-rotation / --augment-shift not in the banner or the checkpoint:\n${err_mann}")
endif()

# --keep-checkpoints kept the weights of both periodic checkpoints; scripts/average-checkpoints.py
# averages them into a file --eval-only takes, and refuses checkpoints of different models.
set(kept ${WORK_DIR}/mann.episode-000000160.safetensors ${WORK_DIR}/mann.episode-000000320.safetensors)
foreach(file ${kept})
  if(NOT EXISTS ${file})
    message(FATAL_ERROR "--keep-checkpoints left no ${file}")
  endif()
endforeach()
if(PYTHON)
  set(average ${SOURCE_DIR}/scripts/average-checkpoints.py)
  execute_process(COMMAND ${PYTHON} ${average} ${WORK_DIR}/average.safetensors ${kept}
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT out MATCHES "the mean of 2 checkpoints \\(episodes_done 160, 320\\)")
    message(FATAL_ERROR "average-checkpoints.py failed (${result}):\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${BINARY} --eval-only --checkpoint ${WORK_DIR}/average.safetensors ${small}
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT out MATCHES "\\| ours: mann +\\|${cell} \\|${cell} \\|")
    message(FATAL_ERROR "--eval-only on the averaged checkpoint failed (${result}):\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${PYTHON} ${average} ${WORK_DIR}/mixed.safetensors ${kept}
                          ${SOURCE_DIR}/pretrained/omniglot_mann_table2_15_strings.safetensors
                  RESULT_VARIABLE result ERROR_VARIABLE err)
  if(result EQUAL 0 OR NOT err MATCHES "tensor controller.weight is F32 \\[800, 785\\]" OR EXISTS ${WORK_DIR}/mixed.safetensors)
    message(FATAL_ERROR "averaging checkpoints of different models should fail and write nothing (${result}):\n${err}")
  endif()
  # scripts/set-metadata.py: the trained weights at another read sharpness. --eval-only takes the new
  # value from the copy (so --read-sharpness 20 agrees with it); a misspelt key fails, writing nothing.
  set(edit ${SOURCE_DIR}/scripts/set-metadata.py)
  execute_process(COMMAND ${PYTHON} ${edit} ${WORK_DIR}/mann.safetensors ${WORK_DIR}/sharper.safetensors head.read_sharpness=20
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT out MATCHES "head.read_sharpness: 10 -> 20")
    message(FATAL_ERROR "set-metadata.py failed (${result}):\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${BINARY} --eval-only --checkpoint ${WORK_DIR}/sharper.safetensors --read-sharpness 20 ${small}
                  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0 OR NOT out MATCHES "\\| ours: mann +\\|${cell} \\|${cell} \\|")
    message(FATAL_ERROR "--eval-only on the edited checkpoint at --read-sharpness 20 failed (${result}):\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${PYTHON} ${edit} ${WORK_DIR}/mann.safetensors ${WORK_DIR}/typo.safetensors head.read_sharpnes=20
                  RESULT_VARIABLE result ERROR_VARIABLE err)
  if(result EQUAL 0 OR NOT err MATCHES "has no setting 'head.read_sharpnes'" OR EXISTS ${WORK_DIR}/typo.safetensors)
    message(FATAL_ERROR "set-metadata.py with a misspelt key should fail and write nothing (${result}):\n${err}")
  endif()
else()
  message(STATUS "no Python 3: scripts/average-checkpoints.py and scripts/set-metadata.py not checked")
endif()

# --eval-only takes the model's settings (here --controller-size 32 and --read-sharpness 10) from the
# checkpoint: the same row as at the end of training; a setting given with another value is an error.
execute_process(COMMAND ${BINARY} --model mann --eval-only ${small} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(REGEX MATCH "\\| ours: [^\n]*" row "${out}")
if(NOT result EQUAL 0 OR NOT row STREQUAL row_mann)
  message(FATAL_ERROR "--eval-only without the settings (${result}) gave\n${row}\nnot the trained row\n${row_mann}\n${err}")
endif()
execute_process(COMMAND ${BINARY} --model mann --eval-only --read-sharpness 1 ${small} RESULT_VARIABLE result ERROR_VARIABLE err)
if(result EQUAL 0 OR NOT err MATCHES "--read-sharpness 1 differs from the checkpoint's head.read_sharpness = 10")
  message(FATAL_ERROR "--eval-only --read-sharpness 1 on a checkpoint trained at 10 should fail (${result}):\n${err}")
endif()
# With one-hot labels the outputs fix the class count: evaluating at another one is an error.
execute_process(COMMAND ${BINARY} --model mann --eval-only --classes 3 ${small} RESULT_VARIABLE result ERROR_VARIABLE err)
if(result EQUAL 0 OR NOT err MATCHES "--classes 3 differs from the checkpoint's classes = 5")
  message(FATAL_ERROR "--eval-only --classes 3 on a one-hot 5-class checkpoint should fail (${result}):\n${err}")
endif()
# With string labels any class count can be tested: the pretrained 15-class model on 5-class
# episodes (the paper's 5-class row; docs/results.md has its figures).
set(strings ${SOURCE_DIR}/pretrained/omniglot_mann_table2_15_strings.safetensors)
execute_process(COMMAND ${BINARY} --eval-only --checkpoint ${strings} --classes 5 ${small}
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0 OR NOT out MATCHES "5 classes, string labels" OR NOT out MATCHES "paper: Table 2, MANN \\(LSTM\\), 5 classes")
  message(FATAL_ERROR "--eval-only --classes 5 on the 15-class string model failed (${result}):\n${out}\n${err}")
endif()
string(REGEX MATCH "\\| ours: mann +\\| +[0-9.]+±[0-9.]+ \\| +([0-9]+)\\." row "${out}")
if(NOT row OR CMAKE_MATCH_1 LESS 60)
  message(FATAL_ERROR "the 15-class string model on 5-class episodes should be above 60% at the 2nd instance:\n${out}")
endif()
# Impossible class counts fail before any training.
execute_process(COMMAND ${BINARY} --model mann --classes 300 --episodes 320 ${small} RESULT_VARIABLE result ERROR_VARIABLE err)
if(result EQUAL 0 OR NOT err MATCHES "--classes 300 needs that many characters per episode" OR err MATCHES "training mann")
  message(FATAL_ERROR "--classes 300 on 3 alphabets should fail before training (${result}):\n${err}")
endif()
# --resume goes on with the checkpoint's learning-rate schedule and batch size when none is given.
execute_process(COMMAND ${BINARY} --model mann --resume --episodes 352 ${small} RESULT_VARIABLE result ERROR_VARIABLE err)
if(NOT result EQUAL 0 OR NOT err MATCHES "\\(8 per batch, [^\n]*learning rate 0.0002 falling as a cosine to 2e-05")
  message(FATAL_ERROR "--resume without --learning-rate and --batch should keep the checkpoint's (${result}):\n${err}")
endif()
# Each held-out check reports the gradient norms before clipping (the resumed run's 4 steps, clip 50).
set(number "[0-9][0-9.e+-]*")
if(NOT err MATCHES "gradient norm over 4 steps: median ${number}, 99th percentile ${number}, largest ${number}; [0-4] clipped to 50\n")
  message(FATAL_ERROR "the resumed run printed no gradient-norm summary:\n${err}")
endif()
