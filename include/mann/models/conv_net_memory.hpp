// mann/models/conv_net_memory.hpp: "ConvNet with memory" of Kaiser et al. 2017 (§4, Table 1;
// SPEC §2): a ConvNetEncoder whose output is the query of a KeyValueMemory; the nearest
// neighbour's value is the prediction. Trained with Adam on the memory's margin loss.
#pragma once

#include <cstdint>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/kv/key_value_memory.hpp"
#include "mann/models/conv_net.hpp"
#include "mann/train/adam.hpp"
#include "mann/train/clip.hpp"

namespace mann {

/// Options of a ConvNetWithMemory. Defaults where the paper is silent: the authors' released code
/// (Adam lr 1e-4, gradient-norm clip 5; SPEC §2).
struct ConvNetWithMemoryOptions {
  ConvNetEncoderOptions encoder;  ///< the query size is encoder.embedding_size
  Index memory_size = 8192;       ///< slots; must be >= memory.k
  KeyValueMemoryOptions memory;   ///< k (256), α (0.1), t (40), exact or LSH search, …
  double learning_rate = 1e-4;    ///< Adam
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  double clip_norm = 5;           ///< global gradient-norm clip before each Adam step; 0: none
  std::uint64_t seed = 1;         ///< weight initialisation and dropout masks
};

/// Encoder + key-value memory + Adam, kept small: it owns one encoder cache and one memory cache,
/// so steps of one batch size allocate nothing after the first (except where the memory
/// meets a label for the first time since clear_memory()).
///
/// One training step, train_step(images, labels) (§2, "predict first, then update"):
///   1. q = encoder(images) with dropout;                     (query, un-normalised, d × B)
///   2. memory.query(q): predictions V[n_1] (counted against labels before any write);
///   3. loss = (1/B) Σ_j memory loss_j (margin α between nearest negative and positive key);
///   4. dL/dq from the memory, back through the encoder into the parameters' gradients (zeroed
///      first); clip to clip_norm; one Adam step;
///   5. memory.update(q, labels): the write rule with the query of step 1.
///
/// Episodes (N-way K-shot, Vinyals et al. 2016). The memory persists across calls until
/// clear_memory(). Training: clear_memory() at each episode start and call train_step on its
/// batches in order. Evaluation: clear_memory(); write(support images, labels); then
/// predict(query images) (no weight or memory change). Labels are integers >= 0; columns of one
/// batch share the memory, so a batch mixing several episodes must give them disjoint labels
/// (e.g. episode · N + class).
///
/// Thread safety: none of the member functions may run concurrently with another on the same
/// object (they share the internal caches, the memory and the dropout Rng). For parallel
/// encoding use encoder().forward() with one ConvNetEncoder::Cache per thread.
/// The object holds pointers to its own parameters (the optimiser's list): it cannot be copied or
/// moved; hold it by std::unique_ptr or std::optional to choose when it is built.
template <class Scalar = float>
class ConvNetWithMemory {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;
  using Memory = KeyValueMemory<Scalar>;
  using Value = typename Memory::Value;

  /// What one train_step did.
  struct StepResult {
    double loss = 0;       ///< mean memory loss over the batch
    Index correct = 0;     ///< columns whose prediction (before the update) equals the label
    double grad_norm = 0;  ///< global gradient norm before clipping
  };

  /// \throws ValueError / ShapeError from the encoder, memory or Adam options (sizes, k > memory_size…).
  explicit ConvNetWithMemory(const ConvNetWithMemoryOptions& options)
      : options_(options),
        rng_(options.seed),
        encoder_(options.encoder, rng_),
        memory_(options.memory_size, options.encoder.embedding_size, options.memory),
        parameters_(collect(encoder_)),
        optimizer_(parameters_, adam_options(options)) {
    check_value(options.clip_norm >= 0, "mann::ConvNetWithMemory", "options.clip_norm", options.clip_norm, ">= 0");
  }

  ConvNetWithMemory(const ConvNetWithMemory&) = delete;
  ConvNetWithMemory& operator=(const ConvNetWithMemory&) = delete;

  /// One training step on a batch (see the class comment): images (input_size × B), labels (B,
  /// each >= 0). Changes the weights and the memory.
  /// \throws ShapeError / ValueError for wrong shapes, NaN/Inf images, negative labels, or a
  /// non-finite gradient.
  StepResult train_step(const ConstRef& images, const std::vector<Value>& labels) {
    StepResult result;
    result.loss = static_cast<double>(compute_gradients(images, labels, true));
    result.correct = count_correct(labels);
    result.grad_norm = options_.clip_norm > 0 ? clip_grad_norm(parameters_, options_.clip_norm)
                                              : global_grad_norm(parameters_);
    optimizer_.step();
    memory_.update(memory_cache_, labels);
    return result;
  }

  /// Steps 1–4a of train_step without the Adam step and the memory write: zeroes the gradients,
  /// encodes (dropout as `training`, masks from rng()), queries, and leaves d(mean loss)/dθ in the
  /// parameters' gradients. Returns the mean loss. For gradient checks and custom training loops.
  Scalar compute_gradients(const ConstRef& images, const std::vector<Value>& labels, bool training) {
    zero_grad(parameters_);
    const Mat& query = encoder_.forward(images, encoder_cache_, training, rng_);
    memory_.query(query, memory_cache_);
    const Index batch = images.cols();
    const Scalar scale = batch > 0 ? Scalar(1) / static_cast<Scalar>(batch) : Scalar(0);
    const Scalar loss = memory_.loss(labels, memory_cache_) * scale;
    memory_.backward(memory_cache_, d_query_, scale);
    encoder_.backward(encoder_cache_, d_query_);
    return loss;
  }

  /// The nearest neighbour's value for each column of images (evaluation mode: no dropout, no
  /// weight or memory change); Memory::kEmpty (−1) while the memory is empty. The reference stays
  /// valid until the next call of any member.
  const std::vector<Value>& predict(const ConstRef& images) {
    encoder_.forward(images, encoder_cache_, false, rng_);
    memory_.query(encoder_cache_.embedding, memory_cache_);
    return memory_cache_.predictions;
  }

  /// Writes labelled examples into the memory (evaluation mode: no dropout, no weight change),
  /// e.g. an episode's support set. Returns the predictions made before the write.
  const std::vector<Value>& write(const ConstRef& images, const std::vector<Value>& labels) {
    predict(images);
    memory_.update(memory_cache_, labels);
    return memory_cache_.predictions;
  }

  /// Empties the memory (keys, values, ages); the weights and Adam's state are kept.
  void clear_memory() { memory_.clear(); }

  const ConvNetWithMemoryOptions& options() const { return options_; }
  ConvNetEncoder<Scalar>& encoder() { return encoder_; }
  const ConvNetEncoder<Scalar>& encoder() const { return encoder_; }
  Memory& memory() { return memory_; }
  const Memory& memory() const { return memory_; }
  Adam<Scalar>& optimizer() { return optimizer_; }
  /// The encoder's parameters, prefixed "encoder." (what Adam updates and checkpoints save).
  const ParameterList<Scalar>& parameters() const { return parameters_; }
  /// The dropout generator (reseed it to repeat a mask).
  Rng& rng() { return rng_; }
  /// The last forward pass: encoder activations, and the memory's neighbours, losses, predictions.
  const typename ConvNetEncoder<Scalar>::Cache& encoder_cache() const { return encoder_cache_; }
  const typename Memory::Cache& memory_cache() const { return memory_cache_; }

 private:
  static ParameterList<Scalar> collect(ConvNetEncoder<Scalar>& encoder) {
    ParameterList<Scalar> list;
    encoder.parameters(list, "encoder");
    return list;
  }
  static typename Adam<Scalar>::Options adam_options(const ConvNetWithMemoryOptions& options) {
    typename Adam<Scalar>::Options adam;
    adam.learning_rate = options.learning_rate;
    adam.beta1 = options.adam_beta1;
    adam.beta2 = options.adam_beta2;
    adam.epsilon = options.adam_epsilon;
    return adam;
  }
  Index count_correct(const std::vector<Value>& labels) const {
    Index correct = 0;
    for (std::size_t j = 0; j < labels.size(); ++j) correct += memory_cache_.predictions[j] == labels[j] ? 1 : 0;
    return correct;
  }

  ConvNetWithMemoryOptions options_;
  Rng rng_;
  ConvNetEncoder<Scalar> encoder_;
  Memory memory_;
  ParameterList<Scalar> parameters_;
  Adam<Scalar> optimizer_;
  typename ConvNetEncoder<Scalar>::Cache encoder_cache_;
  typename Memory::Cache memory_cache_;
  Mat d_query_;
};

}  // namespace mann
