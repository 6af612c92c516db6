# Sourced by the examples' test scripts: find_test_data <source dir> sets `data` to the Omniglot
# folder ($MANN_DATA_DIR, or its omniglot/ subfolder, else <source dir>/data/omniglot). Without
# data it prints one SKIP line and exits 0; a MANN_DATA_DIR without data is a failure.
find_test_data() {
  data=${MANN_DATA_DIR:-$1/data/omniglot}
  if [[ -n ${MANN_DATA_DIR:-} && ! -e $data/images_background.zip && ! -d $data/images_background ]]; then
    data=$data/omniglot
  fi
  if [[ ! -e $data/images_background.zip && ! -d $data/images_background ]]; then
    if [[ -n ${MANN_DATA_DIR:-} ]]; then
      echo "FAILED: MANN_DATA_DIR is $MANN_DATA_DIR, which holds no Omniglot data"
      exit 1
    fi
    echo "SKIP: no Omniglot data: set MANN_DATA_DIR to the folder with images_background.zip and images_evaluation.zip"
    exit 0
  fi
}
