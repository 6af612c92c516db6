// mann/models/pixel_nearest_neighbour.hpp: the pixel nearest-neighbour baseline of few-shot
// classification (Vinyals et al. 2016; Kaiser et al. 2017 Table 1; Lake et al. 2015), a classifier
// in the form mann/data/few_shot_evaluation.hpp runs. Eigen only.
#pragma once

#include <cmath>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/core/types.hpp"

namespace mann {

/// Distance of the pixel nearest-neighbour baseline.
enum class PixelDistance {
  euclidean,  ///< smallest ‖q − s‖
  cosine,     ///< largest q·s / (‖q‖ ‖s‖) (an all-zero image has similarity 0 to everything)
};

/// The pixel nearest-neighbour baseline: each query gets the label of its nearest support image
/// (1-NN over all N · K support images, raw pixels; ties go to the lowest support column).
/// Stateless apart from workspaces: use one per thread.
template <class Scalar = float>
class PixelNearestNeighbour {
 public:
  explicit PixelNearestNeighbour(PixelDistance distance = PixelDistance::euclidean) : distance_(distance) {}

  PixelDistance distance() const { return distance_; }

  /// \throws ShapeError when support and queries differ in rows or support_labels has the wrong length.
  void operator()(const Matrix<Scalar>& support, const std::vector<int>& support_labels, int /*ways*/,
                  const Matrix<Scalar>& queries, std::vector<int>& predictions) {
    const char* where = "mann::PixelNearestNeighbour";
    check_shape(queries, support.rows(), -1, where, "queries");
    if (static_cast<Index>(support_labels.size()) != support.cols()) {
      throw ShapeError(detail::concat(where, ": support_labels has ", support_labels.size(), " labels, expected ",
                                      support.cols(), " (the support columns)"));
    }
    predictions.assign(static_cast<std::size_t>(queries.cols()), -1);
    if (support.cols() == 0) return;
    // Score to maximise: −‖s‖² + 2 q·s (Euclidean; ‖q‖² is the same for every s), or the cosine.
    scores_.noalias() = support.transpose() * queries;
    support_norms_ = support.colwise().squaredNorm().transpose();
    if (distance_ == PixelDistance::euclidean) {
      scores_ *= Scalar(2);
      scores_.colwise() -= support_norms_;
    } else {
      const Vector<Scalar> inverse_support = support_norms_.unaryExpr(&PixelNearestNeighbour::inverse_root);
      const RowVector<Scalar> inverse_query = queries.colwise().squaredNorm().unaryExpr(&PixelNearestNeighbour::inverse_root);
      scores_ = inverse_support.asDiagonal() * scores_ * inverse_query.asDiagonal();
    }
    for (Index j = 0; j < queries.cols(); ++j) {
      Index best = 0;
      scores_.col(j).maxCoeff(&best);  // the first maximum
      predictions[static_cast<std::size_t>(j)] = support_labels[static_cast<std::size_t>(best)];
    }
  }

 private:
  static Scalar inverse_root(Scalar x) { return x > Scalar(0) ? Scalar(1) / std::sqrt(x) : Scalar(0); }

  PixelDistance distance_;
  Matrix<Scalar> scores_;
  Vector<Scalar> support_norms_;
};

}  // namespace mann
