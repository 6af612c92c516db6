// Tests for mann/knn/exact.hpp: exact top-k against a brute-force sort (with ties), blocks, removal,
// double precision, and the errors at the API boundary.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "knn/knn_test_support.hpp"
#include "mann/core/init.hpp"
#include "mann/knn/exact.hpp"

namespace {

using mann::Index;

template <class Scalar>
void expect_matches_brute_force(const mann::ExactIndex<Scalar>& index, const mann::Matrix<Scalar>& keys,
                                const std::vector<bool>& active, const mann::Matrix<Scalar>& queries, Index k) {
  mann::KnnResult<Scalar> result;
  mann::KnnWorkspace<Scalar> workspace;
  index.search(queries, k, result, workspace);
  mann::IndexMatrix truth;
  mann::MatrixD truth_scores;
  knn_test::brute_force(keys, active, queries, k, truth, truth_scores);
  ASSERT_EQ(result.indices.rows(), k);
  ASSERT_EQ(result.indices.cols(), queries.cols());
  for (Index j = 0; j < queries.cols(); ++j) {
    for (Index r = 0; r < k; ++r) {
      ASSERT_EQ(result.indices(r, j), truth(r, j))
          << "N=" << keys.cols() << " k=" << k << " query " << j << " rank " << r;
      ASSERT_EQ(static_cast<double>(result.scores(r, j)), truth_scores(r, j));
    }
  }
  // the same workspace again: nothing stale
  mann::KnnResult<Scalar> again;
  index.search(queries, k, again, workspace);
  EXPECT_EQ(again.indices, result.indices);
}

TEST(ExactIndex, EqualsBruteForceSortWithTiesOnAwkwardSizes) {
  mann::Rng rng(1);
  mann::ExactParams small_blocks;
  small_blocks.block_bytes = 1024;  // forces many blocks, including a partial last one
  small_blocks.min_block_keys = 16;
  for (Index d : {1, 3, 17}) {
    for (Index n : {1, 3, 15, 16, 17, 33, 100, 1000}) {
      const mann::MatrixF keys = knn_test::integer_matrix<float>(d, n, 2, rng);
      for (const auto& params : {mann::ExactParams{}, small_blocks}) {
        mann::ExactIndex<float> index(d, params);
        index.add(keys);
        for (Index b : {1, 3, 16, 17}) {
          const mann::MatrixF queries = knn_test::integer_matrix<float>(d, b, 2, rng);
          for (Index k : {Index{1}, Index{3}, Index{16}, Index{17}, n}) {
            if (k > n) continue;
            expect_matches_brute_force(index, keys, {}, queries, k);
          }
        }
      }
    }
  }
}

TEST(ExactIndex, LargeKUpTo1024) {
  mann::Rng rng(2);
  const mann::MatrixF keys = knn_test::integer_matrix<float>(8, 5000, 3, rng);
  mann::ExactParams params;
  params.block_bytes = 4096;
  params.min_block_keys = 16;
  mann::ExactIndex<float> index(8, params);
  index.add(keys);
  const mann::MatrixF queries = knn_test::integer_matrix<float>(8, 5, 3, rng);
  for (Index k : {256, 1000, 1023, 1024}) expect_matches_brute_force(index, keys, {}, queries, k);
}

TEST(ExactIndex, DoublePrecision) {
  mann::Rng rng(3);
  const mann::MatrixD keys = knn_test::integer_matrix<double>(5, 300, 2, rng);
  mann::ExactIndex<double> index(5);
  index.add(keys);
  expect_matches_brute_force(index, keys, {}, knn_test::integer_matrix<double>(5, 7, 2, rng), 33);
}

TEST(ExactIndex, RealValuedScoresAgreeWithBruteForce) {
  mann::Rng rng(4);
  const mann::MatrixF keys = knn_test::unit_columns<float>(40, 3000, rng);
  const mann::MatrixF queries = knn_test::unit_columns<float>(40, 17, rng);
  mann::ExactIndex<float> index(40);
  index.add(keys);
  mann::KnnResult<float> result;
  index.search(queries, 100, result);
  mann::IndexMatrix truth;
  mann::MatrixD truth_scores;
  knn_test::brute_force(keys, {}, queries, 100, truth, truth_scores);
  // rounding may swap near-equal neighbours: compare scores, and sets up to the last rank
  EXPECT_LT((result.scores.cast<double>() - truth_scores).cwiseAbs().maxCoeff(), 1e-5);
  EXPECT_GT(knn_test::recall_at_k(truth, result.indices), 0.99);
}

TEST(ExactIndex, SetRemoveAndInactiveSlots) {
  mann::Rng rng(5);
  mann::MatrixF keys = knn_test::integer_matrix<float>(4, 40, 2, rng);
  mann::ExactIndex<float> index(4);
  index.add(keys);
  std::vector<bool> active(40, true);
  for (Index s : {0, 7, 16, 39}) {
    index.remove(s);
    active[static_cast<std::size_t>(s)] = false;
    keys.col(s).setZero();
  }
  index.remove(7);  // twice: no-op
  EXPECT_EQ(index.size(), 36);
  EXPECT_EQ(index.slots(), 40);
  const mann::MatrixF queries = knn_test::integer_matrix<float>(4, 9, 2, rng);
  expect_matches_brute_force(index, keys, active, queries, 36);
  expect_matches_brute_force(index, keys, active, queries, 5);
  expect_matches_brute_force(index, keys, active, queries, 1);
  // replace and re-insert
  const mann::MatrixF fresh = knn_test::integer_matrix<float>(4, 2, 2, rng);
  index.set(7, fresh.col(0));
  keys.col(7) = fresh.col(0);
  active[7] = true;
  index.set(3, fresh.col(1));
  keys.col(3) = fresh.col(1);
  expect_matches_brute_force(index, keys, active, queries, 37);
  // empty slots appended later
  EXPECT_EQ(index.add_empty(5), 40);
  EXPECT_EQ(index.slots(), 45);
  EXPECT_EQ(index.size(), 37);
  keys.conservativeResize(Eigen::NoChange, 45);
  keys.rightCols(5).setZero();
  active.resize(45, false);
  expect_matches_brute_force(index, keys, active, queries, 37);
  EXPECT_EQ(index.keys().cols(), 45);
}

template <class F>
void expect_error_message(F&& f, const std::string& text) {
  try {
    f();
    FAIL() << "no throw, expected: " << text;
  } catch (const mann::Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

TEST(ExactIndex, ErrorsNameMethodArgumentReceivedAndExpected) {
  mann::Rng rng(6);
  mann::ExactIndex<float> index(8);
  index.add(knn_test::unit_columns<float>(8, 10, rng));
  mann::KnnResult<float> result;
  const mann::MatrixF q = knn_test::unit_columns<float>(8, 2, rng);
  EXPECT_THROW(index.search(q, 0, result), mann::ValueError);
  EXPECT_THROW(index.search(q, 11, result), mann::ValueError);
  expect_error_message([&] { index.search(q, 11, result); },
                       "mann::ExactIndex::search: k is 11, expected in [1, 10] (the number of stored keys)");
  const mann::MatrixF wrong = knn_test::unit_columns<float>(6, 2, rng);
  EXPECT_THROW(index.search(wrong, 1, result), mann::ShapeError);
  expect_error_message([&] { index.search(wrong, 1, result); },
                       "mann::ExactIndex::search: queries has 6 rows, keys have 8");
  mann::MatrixF bad = q;
  bad(3, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(index.search(bad, 1, result), mann::ValueError);
  expect_error_message([&] { index.search(bad, 1, result); }, "mann::ExactIndex::search: queries(3, 1) is nan");
  bad(3, 1) = std::numeric_limits<float>::infinity();
  EXPECT_THROW(index.search(bad, 1, result), mann::ValueError);
  EXPECT_THROW(index.add(bad), mann::ValueError);
  EXPECT_THROW(index.set(0, bad.col(1)), mann::ValueError);
  EXPECT_THROW(index.add(wrong), mann::ShapeError);
  expect_error_message([&] { index.add(wrong); }, "mann::ExactIndex::add: keys has 6 rows, keys have 8");
  EXPECT_THROW(index.set(10, q.col(0)), mann::ValueError);
  EXPECT_THROW(index.set(-1, q.col(0)), mann::ValueError);
  EXPECT_THROW(index.set(0, q), mann::ShapeError);
  EXPECT_THROW(index.remove(10), mann::ValueError);
  EXPECT_THROW(mann::ExactIndex<float>(0), mann::ValueError);
  EXPECT_EQ(index.size(), 10);  // nothing half-done
  mann::ExactIndex<float> empty(8);
  EXPECT_THROW(empty.search(q, 1, result), mann::ValueError);
}

TEST(ExactIndex, EmptyBatchGivesEmptyResult) {
  mann::Rng rng(7);
  mann::ExactIndex<float> index(3);
  index.add(knn_test::unit_columns<float>(3, 4, rng));
  mann::KnnResult<float> result;
  index.search(mann::MatrixF(3, 0), 2, result);
  EXPECT_EQ(result.indices.rows(), 2);
  EXPECT_EQ(result.indices.cols(), 0);
}

}  // namespace

namespace {

TEST(ExactIndex, EverySimdLevelCompiledInGivesIdenticalResults) {
  mann::Rng rng(8);
  for (mann::Index n : {1, 3, 15, 16, 17, 33, 100, 2000}) {
    for (int tied = 0; tied < 2; ++tied) {
      const mann::MatrixF keys =
          tied ? knn_test::integer_matrix<float>(7, n, 1, rng) : knn_test::unit_columns<float>(7, n, rng);
      const mann::MatrixF queries =
          tied ? knn_test::integer_matrix<float>(7, 17, 1, rng) : knn_test::unit_columns<float>(7, 17, rng);
      mann::ExactParams params;
      params.simd = mann::knn::SimdLevel::scalar;
      params.block_bytes = 2048;
      params.min_block_keys = 16;
      mann::ExactIndex<float> index(7, params);
      index.add(keys);
      index.remove(0);
      if (index.size() == 0) continue;
      const mann::Index k = std::min<mann::Index>(index.size(), 16);
      mann::KnnResult<float> reference, got;
      index.search(queries, k, reference);
      for (auto level : {mann::knn::SimdLevel::avx2, mann::knn::SimdLevel::avx512}) {
        if (!mann::knn::scan_level_compiled(level)) continue;
        params.simd = level;
        index.set_params(params);
        index.search(queries, k, got);
        EXPECT_EQ(got.indices, reference.indices) << mann::knn::to_string(level) << " n=" << n;
        EXPECT_EQ(got.scores, reference.scores);
      }
    }
  }
}

}  // namespace

namespace {

// Float keys (no exact ties): threads that split the keys give the single thread's scores bit for
// bit (a key's score depends on where it sits in its block, since Eigen's GEMM rounds tail rows
// differently: key ranges start on the single thread's block boundaries). A split batch gives the same neighbours with scores equal up to the last bit.
TEST(ExactIndex, ThreadedSearchIsBitIdenticalOnFloatKeys) {
  mann::Rng rng(21);
  for (mann::Index n : {1000, 3001, 5000}) {
    mann::MatrixF keys(37, n), queries(37, 17);
    mann::init_normal(keys, rng, 1.0);
    mann::init_normal(queries, rng, 1.0);
    mann::ExactParams params;
    params.block_bytes = 4096;
    params.min_block_keys = 16;
    mann::ExactIndex<float> index(37, params);
    index.add(keys);
    mann::KnnResult<float> single;
    index.search(queries, 50, single);
    for (int split = 0; split < 4; ++split) {
      params.threads = 2 + split % 2;
      params.min_keys_per_thread = split < 2 ? 1 : n;  // split the keys, or the batch
      index.set_params(params);
      for (mann::Index k : {mann::Index{1}, mann::Index{50}}) {
        mann::KnnResult<float> got, reference;
        index.search(queries, k, got);
        if (k == 50) {
          reference = single;
        } else {
          mann::ExactParams one = params;
          one.threads = 1;
          mann::ExactIndex<float> alone(37, one);
          alone.add(keys);
          alone.search(queries, k, reference);
        }
        const std::string where = "n=" + std::to_string(n) + " threads=" + std::to_string(params.threads) +
                                  " k=" + std::to_string(k) + (split < 2 ? " keys split" : " batch split");
        EXPECT_EQ(got.indices, reference.indices) << where;
        if (split < 2) {
          EXPECT_EQ(got.scores, reference.scores) << where;
        } else {
          EXPECT_LE((got.scores - reference.scores).cwiseAbs().maxCoeff(), 1e-5f * reference.scores.cwiseAbs().maxCoeff())
              << where;
        }
      }
    }
  }
}

TEST(ExactIndex, ThreadedSearchEqualsSingleThreaded) {
  mann::Rng rng(9);
  for (mann::Index n : {1, 3, 17, 100, 1000, 3001}) {
    const mann::MatrixF keys = knn_test::integer_matrix<float>(6, n, 1, rng);  // many ties across ranges
    const mann::MatrixF queries = knn_test::integer_matrix<float>(6, 17, 1, rng);
    mann::ExactParams params;
    params.block_bytes = 4096;
    params.min_block_keys = 16;
    mann::ExactIndex<float> index(6, params);
    index.add(keys);
    std::vector<bool> active(static_cast<std::size_t>(n), true);
    for (int removed = 0; removed < 2; ++removed) {
      if (removed == 1 && n > 2) {
        index.remove(n / 2);
        active[static_cast<std::size_t>(n / 2)] = false;
      }
      for (int split = 0; split < 4; ++split) {
        const int threads = 2 + split % 2;
        params.threads = threads;
        // split the keys even of tiny problems; or keep the keys whole and split the batch
        params.min_keys_per_thread = split < 2 ? 1 : n;
        index.set_params(params);
        mann::KnnWorkspace<float> workspace;
        for (mann::Index k : {mann::Index{1}, mann::Index{5}, index.size()}) {
          if (k > index.size()) continue;
          mann::KnnResult<float> got;
          index.search(queries, k, got, workspace);
          mann::IndexMatrix truth;
          mann::MatrixD scores;
          knn_test::brute_force(keys, removed == 1 ? active : std::vector<bool>{}, queries, k, truth, scores);
          EXPECT_EQ(got.indices, truth) << "n=" << n << " threads=" << threads << " k=" << k;
        }
      }
    }
  }
  mann::ExactParams bad;
  bad.threads = 0;
  EXPECT_THROW(mann::ExactIndex<float>(4, bad), mann::ValueError);
}

}  // namespace
