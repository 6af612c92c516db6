// tests/support/overflowing_model.hpp: a one-parameter model for the trainers' tests whose backward
// pass overflows on demand (its gradient becomes +Inf), as a float32 MANN's can on a rare batch
// (docs/results.md, issue 18). Its loss is the sum of its weights; its outputs are zeros.
#pragma once

#include <limits>
#include <vector>

#include "mann/core/episode.hpp"
#include "mann/core/parameter.hpp"

namespace mann_test {

struct OverflowingModel {
  struct Workspace {
    std::vector<mann::MatrixD> outputs;
  };
  mann::Parameter<double> w{3, 1};
  bool overflow = false;  // backward writes +Inf into the gradient (else 1 in every element)

  mann::ParameterList<double> parameters() { return {{"w", &w}}; }
  double forward(const mann::EpisodeBatch<double>& batch, Workspace& ws) {
    ws.outputs.assign(static_cast<std::size_t>(batch.length()),
                      mann::MatrixD::Zero(batch.targets[0].rows(), batch.batch()));
    return w.value.sum();
  }
  void backward(const mann::EpisodeBatch<double>&, Workspace&) {
    w.grad.setConstant(overflow ? std::numeric_limits<double>::infinity() : 1.0);
  }
  void carry_memory(Workspace&) {}
};

}  // namespace mann_test
