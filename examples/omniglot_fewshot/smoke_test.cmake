# Runs the few-shot example on the real data, briefly: the pixel baseline, then the ConvNet with memory
# trained for 32 episodes, resumed to 48, and evaluated from its checkpoint (--eval-only). Checks the
# exit codes, the table rows (four accuracies with confidence intervals, no NaN), Lake's error rate,
# the log and checkpoint files, and that a bad argument exits with 2.
include(${CMAKE_CURRENT_LIST_DIR}/../common/find_data.cmake)
if(DATA_MISSING)
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
set(common --data-dir ${DATA_DIR} --out-dir ${WORK_DIR} --threads 2 --test-episodes 20)
set(convnet --model convnet --memory-size 1024 --eval-every 16 --eval-episodes 8)
set(cell " +[0-9]+\\.[0-9]±[0-9]+\\.[0-9]")

function(run_example name expected_row)
  execute_process(COMMAND ${BINARY} ${common} ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "omniglot_fewshot (${name}) failed (${result}):\n${out}\n${err}")
  endif()
  string(TOLOWER "${out}" lower)
  if(lower MATCHES "nan")
    message(FATAL_ERROR "NaN in the report of ${name}:\n${out}")
  endif()
  if(NOT out MATCHES "\\| ours: ${expected_row} +\\|${cell} \\|${cell} \\|${cell} \\|${cell} \\|")
    message(FATAL_ERROR "no well-formed result row '${expected_row}' (${name}):\n${out}")
  endif()
  if(NOT out MATCHES "paper: ConvNet with memory module +\\| +98\\.4 \\| +99\\.6 \\| +95\\.0 \\| +98\\.6 \\|")
    message(FATAL_ERROR "no paper row (${name}):\n${out}")
  endif()
  if(NOT out MATCHES "Lake et al.'s 20 one-shot runs .*: error rate [0-9]+\\.[0-9][0-9]%")
    message(FATAL_ERROR "no error rate on Lake's runs (${name}):\n${out}")
  endif()
  set(last_err "${err}" PARENT_SCOPE)
  set(last_out "${out}" PARENT_SCOPE)
  message(STATUS "${name}:\n${out}")
endfunction()

run_example("knn" "pixel NN \\(euclidean\\)" --model knn)
run_example("convnet, 32 episodes" "ConvNet with memory \\(32 ep\\.\\)" ${convnet} --episodes 32 --batch 8 --final-learning-rate 1e-5)
if(NOT last_err MATCHES "learning rate 0\\.0003 falling as a cosine to 1e-05;")
  message(FATAL_ERROR "--final-learning-rate is not in the training banner:\n${last_err}")
endif()
foreach(file convnet.safetensors convnet_training.csv convnet.csv convnet_episodes.csv convnet_training.png)
  if(NOT EXISTS ${WORK_DIR}/${file})
    message(FATAL_ERROR "the ConvNet run left no ${file} in ${WORK_DIR}")
  endif()
endforeach()
# The results CSV ends with Lake's runs: the correct items of the 400 (20 runs of 20).
file(STRINGS ${WORK_DIR}/convnet.csv lake_row REGEX ",lake_runs,")
if(NOT lake_row MATCHES ",lake_runs,0,20,1,1,20,0,[0-9.e-]+,,[0-9]+,400,,0$")
  message(FATAL_ERROR "convnet.csv has no well-formed Lake row: '${lake_row}'")
endif()
# Trained with the default per-sample distortions, recorded in the checkpoint.
if(NOT last_err MATCHES "distorted \\(rotation ±11\\.25°, shift ±10 px of 105\\)")
  message(FATAL_ERROR "the default training is not distorted:\n${last_err}")
endif()
file(READ ${WORK_DIR}/convnet.safetensors header OFFSET 8 LIMIT 4096)  # after the header length
if(NOT header MATCHES "\"distort_rotation\":\"11\\.25\"" OR NOT header MATCHES "\"distort_shift\":\"10\"")
  message(FATAL_ERROR "the checkpoint does not record the distortions")
endif()
run_example("convnet, resumed to 48" "ConvNet with memory \\(48 ep\\.\\)" ${convnet} --episodes 48 --resume)
if(NOT last_err MATCHES "loaded .*convnet.safetensors \\(32 episodes trained\\)")
  message(FATAL_ERROR "--resume did not load the checkpoint:\n${last_err}")
endif()
if(NOT last_err MATCHES "for 48 episodes \\(8 per batch, ")  # the checkpoint's batch size, not given again
  message(FATAL_ERROR "--resume did not keep the checkpoint's batch size:\n${last_err}")
endif()
if(NOT last_err MATCHES "learning rate 0\\.0003 falling as a cosine to 1e-05;")  # the checkpoint's schedule
  message(FATAL_ERROR "--resume did not keep the checkpoint's learning-rate schedule:\n${last_err}")
endif()
run_example("convnet, --eval-only" "ConvNet with memory \\(48 ep\\.\\)" ${convnet} --eval-only)
# --eval-only takes the model's settings (--memory-size 1024) from the checkpoint.
run_example("convnet, --eval-only without settings" "ConvNet with memory \\(48 ep\\.\\)" --model convnet --eval-only)

# The per-episode CSV: a header and one row per test episode of each (ways, shots), here 4 × 20;
# the first row's classes are five "alphabet/character" names.
set(name "[^ ,/]+/[^ ,/]+")
file(STRINGS ${WORK_DIR}/convnet_episodes.csv rows)
list(LENGTH rows count)
list(GET rows 0 header)
list(GET rows 1 first)
if(NOT count EQUAL 81 OR NOT header STREQUAL "ways,shots,queries,seed,episode,correct,total,accuracy,classes"
   OR NOT first MATCHES "^5,1,1,1,0,[0-5],5,[0-9.e-]+,${name}( ${name})( ${name})( ${name})( ${name})$")
  message(FATAL_ERROR "convnet_episodes.csv: ${count} rows, header '${header}', first row '${first}'")
endif()

# --eval-only with other ways and shots than the paper's: a 3-way 2-shot table, no paper cell.
execute_process(COMMAND ${BINARY} ${common} --model convnet --eval-only --ways 3 --shots 2 --queries 3
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 0 OR NOT out MATCHES "\\| ours: ConvNet with memory \\(48 ep\\.\\) +\\|${cell} \\|\n"
   OR NOT out MATCHES "3-way 2-shot" OR NOT out MATCHES "20 episodes x 3 queries per class")
  message(FATAL_ERROR "--eval-only --ways 3 --shots 2 --queries 3 (${result}):\n${out}\n${err}")
endif()

# Kaiser et al.'s sequential reading: the same table, recorded in the header and the results CSV;
# it needs --queries 1 and the ConvNet.
run_example("convnet, --eval-only --sequential" "ConvNet with memory \\(48 ep\\.\\)" --model convnet --eval-only --sequential)
if(NOT last_out MATCHES "sequential reading: ")
  message(FATAL_ERROR "--sequential is not in the table's header")
endif()
file(STRINGS ${WORK_DIR}/convnet.csv rows REGEX "^ConvNet with memory \\(48 ep\\.\\),vinyals,0,(5|20),(1|5),")
list(LENGTH rows count)
foreach(row IN LISTS rows)
  if(NOT row MATCHES ",1$")
    message(FATAL_ERROR "convnet.csv row without sequential = 1: '${row}'")
  endif()
endforeach()
if(NOT count EQUAL 4)
  message(FATAL_ERROR "convnet.csv has ${count} result rows after --sequential, expected 4")
endif()
foreach(bad "--queries;2" "--model;knn")
  execute_process(COMMAND ${BINARY} --sequential ${bad} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 2 OR NOT err MATCHES "--sequential needs --model convnet and --queries 1")
    message(FATAL_ERROR "--sequential ${bad} should exit 2 (${result}):\n${err}")
  endif()
endforeach()

# Scale and shear distortions (not in the papers): in the banner and the checkpoint.
run_example("convnet, scale and shear" "ConvNet with memory \\(16 ep\\.\\)" ${convnet} --episodes 16
            --out-dir ${WORK_DIR}/affine --distort-scale 0.1 --distort-shear 0.2)
if(NOT last_err MATCHES "distorted \\(rotation ±11\\.25°, shift ±10 px of 105, scale 1±0\\.1, shear ±0\\.2\\)")
  message(FATAL_ERROR "--distort-scale / --distort-shear are not in the training banner:\n${last_err}")
endif()
file(READ ${WORK_DIR}/affine/convnet.safetensors header OFFSET 8 LIMIT 4096)
if(NOT header MATCHES "\"distort_scale\":\"0\\.1\"" OR NOT header MATCHES "\"distort_shear\":\"0\\.2\"")
  message(FATAL_ERROR "the checkpoint does not record the scale and shear distortions")
endif()

# The authors' recipe trains and resumes; the checkpoint keeps the linear hidden layer.
run_example("convnet, authors' recipe" "ConvNet with memory \\(16 ep\\.\\)" ${convnet} --episodes 16
            --out-dir ${WORK_DIR}/authors --hidden-activation none --dropout 0.7 --init-stddev 0.1
            --query-init-stddev 0.01 --adam-epsilon 1e-4 --distort-rotation 0 --distort-shift 0)
if(last_err MATCHES "distorted")
  message(FATAL_ERROR "--distort-rotation 0 --distort-shift 0 still distorts:\n${last_err}")
endif()
execute_process(COMMAND ${BINARY} ${common} --out-dir ${WORK_DIR}/authors --model convnet --eval-only --hidden-activation relu
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 2 OR NOT err MATCHES "--hidden-activation relu differs from the checkpoint's hidden_activation = none")
  message(FATAL_ERROR "--eval-only with another --hidden-activation than the checkpoint's should exit 2 (${result}):\n${err}")
endif()

execute_process(COMMAND ${BINARY} --model resnet RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT result EQUAL 2 OR NOT err MATCHES "omniglot_fewshot: ")
  message(FATAL_ERROR "a bad --model should give a one-line error and exit 2, got ${result}:\n${err}")
endif()
