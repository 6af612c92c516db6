// Shared helpers of the knn/kv tests: data generators and a brute-force oracle.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "mann/core/random.hpp"
#include "mann/core/types.hpp"
#include "mann/knn/index.hpp"

namespace knn_test {

/// d × n matrix of small integers in [-range, range]: inner products are exact in float and tie often.
template <class Scalar = float>
mann::Matrix<Scalar> integer_matrix(mann::Index d, mann::Index n, int range, mann::Rng& rng) {
  mann::Matrix<Scalar> m(d, n);
  for (mann::Index j = 0; j < n; ++j)
    for (mann::Index i = 0; i < d; ++i)
      m(i, j) = static_cast<Scalar>(static_cast<int>(rng.below(static_cast<std::uint64_t>(2 * range + 1))) - range);
  return m;
}

/// d × n matrix of unit columns drawn uniformly on the sphere.
template <class Scalar = float>
mann::Matrix<Scalar> unit_columns(mann::Index d, mann::Index n, mann::Rng& rng) {
  mann::Matrix<Scalar> m(d, n);
  for (mann::Index j = 0; j < n; ++j) {
    for (mann::Index i = 0; i < d; ++i) m(i, j) = static_cast<Scalar>(rng.normal());
    m.col(j).normalize();
  }
  return m;
}

/// Keys in `clusters` Gaussian clusters on the sphere (noise of norm ≈ spread around unit centres).
template <class Scalar = float>
mann::Matrix<Scalar> clustered_columns(mann::Index d, mann::Index n, mann::Index clusters, double spread,
                                       mann::Rng& rng) {
  const mann::Matrix<Scalar> centres = unit_columns<Scalar>(d, clusters, rng);
  mann::Matrix<Scalar> m(d, n);
  const double sigma = spread / std::sqrt(static_cast<double>(d));
  for (mann::Index j = 0; j < n; ++j) {
    const auto c = static_cast<mann::Index>(rng.below(static_cast<std::uint64_t>(clusters)));
    for (mann::Index i = 0; i < d; ++i) m(i, j) = centres(i, c) + static_cast<Scalar>(sigma * rng.normal());
    m.col(j).normalize();
  }
  return m;
}

/// Brute force: all active scores in double, sorted (larger first, ties by smaller index), top k.
template <class Scalar>
void brute_force(const mann::Matrix<Scalar>& keys, const std::vector<bool>& active, const mann::Matrix<Scalar>& queries,
                 mann::Index k, mann::IndexMatrix& indices, mann::Matrix<double>& scores) {
  indices.resize(k, queries.cols());
  scores.resize(k, queries.cols());
  for (mann::Index j = 0; j < queries.cols(); ++j) {
    std::vector<std::pair<double, mann::Index>> all;
    for (mann::Index i = 0; i < keys.cols(); ++i) {
      if (!active.empty() && !active[static_cast<std::size_t>(i)]) continue;
      double s = 0;
      for (mann::Index r = 0; r < keys.rows(); ++r)
        s += static_cast<double>(keys(r, i)) * static_cast<double>(queries(r, j));
      all.emplace_back(s, i);
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (mann::Index r = 0; r < k; ++r) {
      indices(r, j) = all[static_cast<std::size_t>(r)].second;
      scores(r, j) = all[static_cast<std::size_t>(r)].first;
    }
  }
}

/// Mean fraction of the exact top-k found by the approximate search (recall@k).
inline double recall_at_k(const mann::IndexMatrix& exact, const mann::IndexMatrix& approximate) {
  double total = 0;
  for (mann::Index j = 0; j < exact.cols(); ++j) {
    std::vector<mann::Index> truth(exact.col(j).data(), exact.col(j).data() + exact.rows());
    std::sort(truth.begin(), truth.end());
    mann::Index hits = 0;
    for (mann::Index i = 0; i < approximate.rows(); ++i)
      if (std::binary_search(truth.begin(), truth.end(), approximate(i, j))) ++hits;
    total += static_cast<double>(hits) / static_cast<double>(exact.rows());
  }
  return exact.cols() == 0 ? 1.0 : total / static_cast<double>(exact.cols());
}

}  // namespace knn_test
