// mann/models/conv_net_memory.hpp: "ConvNet with memory" of Kaiser et al. 2017 (§4, Table 1;
// SPEC §2): a ConvNetEncoder whose output is the query of a KeyValueMemory; the nearest
// neighbour's value is the prediction. Trained with Adam on the memory's margin loss.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "mann/core/error.hpp"
#include "mann/kv/key_value_memory.hpp"
#include "mann/models/conv_net.hpp"
#include "mann/optim/adam.hpp"
#include "mann/optim/clip.hpp"
#include "mann/core/thread_pool.hpp"

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
  /// Threads of train_step / compute_gradients: the batch's columns are split into this many blocks,
  /// each encoded (forward and backward) on its own thread by its own copy of the encoder (weights
  /// copied from the model before every step, gradients summed into the model's). The memory part
  /// runs on the calling thread. Results differ from threads = 1 only in the dropout masks (block i
  /// draws from its own generator) and in the order of floating-point sums.
  int threads = 1;
};

/// Encoder + key-value memory + Adam, kept small: it owns one encoder cache per thread and one
/// memory cache, so steps of one batch size allocate nothing after the first (except where the
/// memory meets a label for the first time since clear_memory()).
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
/// object (they share the internal caches, the memory and the dropout Rng). options.threads > 1
/// parallelises train_step itself; for parallel evaluation use ConvNetMemoryClassifier (below), one
/// per thread, sharing the encoder.
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
        optimizer_(parameters_, adam_options(options)),
        caches_(static_cast<std::size_t>(options.threads > 1 ? options.threads + 1 : 1)) {
    check_value(options.clip_norm >= 0, "mann::ConvNetWithMemory", "options.clip_norm", options.clip_norm, ">= 0");
    check_value(options.threads >= 1, "mann::ConvNetWithMemory", "options.threads", options.threads, ">= 1");
    if (options.threads > 1) {
      pool_ = std::make_unique<ThreadPool>(options.threads);
      replicas_.reserve(static_cast<std::size_t>(options.threads - 1));  // parameter lists point into them
      for (int i = 1; i < options.threads; ++i) {
        replicas_.push_back(encoder_);
        replica_rngs_.emplace_back(options.seed + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(i));
      }
      for (auto& replica : replicas_) replica_parameters_.push_back(collect(replica));
    }
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
    const Index batch = images.cols();
    const int parts = static_cast<int>(std::clamp<Index>(batch, 1, std::max(options_.threads, 1)));
    const Scalar scale = batch > 0 ? Scalar(1) / static_cast<Scalar>(batch) : Scalar(0);
    const Mat& queries = encode_blocks(images, batch, parts, 0, parts, 0, training);
    memory_.query(queries, memory_cache_);
    const Scalar loss = memory_.loss(labels, memory_cache_) * scale;
    memory_.backward(memory_cache_, d_query_, scale);
    backward_blocks(batch, parts, 0, parts);
    return loss;
  }

  // --- data-parallel training (driven by mann/train/data_parallel_conv_net.hpp) ------------------
  // A data-parallel step is train_step cut at its two exchanges: encode_columns (this replica's
  // columns) → [gather every replica's queries] → query_memory (the whole batch, alike on every
  // replica) → backward_columns → [sum the gradients over the replicas] → apply_step.

  /// Makes this model replica `rank` of `ranks` of a data-parallel run (the default is replica 0 of
  /// 1: one process). The replicas hold the same weights, Adam state and memory. A batch of B
  /// columns is cut into min(B, ranks · threads) blocks as one process with ranks · threads threads
  /// cuts it (contiguous, near-equal, the larger first), and thread i of replica r encodes block
  /// r · threads + i with that block's dropout generator (block 0: rng(); block b: seeded with
  /// seed + 0x9E3779B97F4A7C15 · b). So R replicas of T threads draw the dropout masks of one
  /// process with R · T threads. Reseeds the generators of rank > 0; changes nothing else.
  /// \throws ValueError unless 0 <= rank < ranks.
  void set_replica(int rank, int ranks) {
    check_value(ranks >= 1, "mann::ConvNetWithMemory::set_replica", "ranks", ranks, ">= 1");
    check_value(rank >= 0 && rank < ranks, "mann::ConvNetWithMemory::set_replica", "rank", rank,
                detail::concat("in [0, ", ranks, ")").c_str());
    rank_ = rank;
    ranks_ = ranks;
    const std::uint64_t first = static_cast<std::uint64_t>(rank) * static_cast<std::uint64_t>(options_.threads);
    if (first == 0) return;  // rank 0: the generators of blocks 0 … threads − 1 already
    rng_.seed(options_.seed + 0x9E3779B97F4A7C15ull * first);
    for (std::size_t i = 1; i <= replica_rngs_.size(); ++i) {
      replica_rngs_[i - 1].seed(options_.seed + 0x9E3779B97F4A7C15ull * (first + i));
    }
  }
  int replica_rank() const { return rank_; }
  int replica_count() const { return ranks_; }

  /// The columns [begin, begin + size) of a batch of `batch` columns that replica `rank` encodes
  /// (size 0 for a replica whose blocks all lie past the batch's min(B, ranks · threads) blocks).
  std::pair<Index, Index> replica_columns(Index batch, int rank) const {
    const int parts = replica_parts(batch), first = rank * options_.threads;
    const int count = std::clamp(parts - first, 0, options_.threads);
    if (count == 0) return {batch, 0};
    const Index begin = block(batch, parts, first).first;
    const auto [last_begin, last_size] = block(batch, parts, first + count - 1);
    return {begin, last_begin + last_size - begin};
  }

  /// Step 1 on this replica's columns of a batch of `batch` columns: zeroes the gradients and
  /// encodes images (input_size × replica_columns(batch, replica_rank()).second) with dropout as
  /// `training`. Returns their queries (embedding_size × that many), valid until the next call.
  /// \throws ShapeError / ValueError for images of the wrong shape or with NaN/Inf.
  const Mat& encode_columns(const ConstRef& images, Index batch, bool training) {
    const std::pair<Index, Index> columns = replica_columns(batch, rank_);  // not a structured binding:
    const Index begin = columns.first, size = columns.second;              // the lambda below uses begin
    check_shape(images, encoder_.input_size(), size, "mann::ConvNetWithMemory::encode_columns",
                "images (this replica's columns)");
    zero_grad(parameters_);
    step_batch_ = batch;
    step_parts_ = replica_parts(batch);
    step_first_ = rank_ * options_.threads;
    step_blocks_ = std::clamp(step_parts_ - step_first_, 0, options_.threads);
    if (step_blocks_ == 0) {
      local_query_.resize(encoder_.embedding_size(), 0);
      return local_query_;
    }
    return encode_blocks(images, batch, step_parts_, step_first_, step_blocks_, begin, training);
  }

  /// Steps 2–4a on the whole batch, after encode_columns: queries (embedding_size × B, every
  /// replica's columns in order) → memory query, mean loss, d(mean loss)/d(queries). Returns the
  /// mean loss. Alike on every replica (same memory, same queries).
  /// \throws ShapeError / ValueError for queries or labels of the wrong size, NaN/Inf, labels < 0.
  Scalar query_memory(const ConstRef& queries, const std::vector<Value>& labels) {
    if (queries.cols() != step_batch_) {
      check_value(false, "mann::ConvNetWithMemory::query_memory", "queries.cols()", queries.cols(),
                  detail::concat(step_batch_, " (the batch of encode_columns)").c_str());
    }
    const Scalar scale = step_batch_ > 0 ? Scalar(1) / static_cast<Scalar>(step_batch_) : Scalar(0);
    memory_.query(queries, memory_cache_);
    step_loss_ = memory_.loss(labels, memory_cache_) * scale;
    memory_.backward(memory_cache_, d_query_, scale);
    return step_loss_;
  }

  /// Step 4b: back-propagates this replica's columns of d(loss)/d(queries) through its encoder into
  /// the parameters' gradients (the sum over this replica's blocks).
  void backward_columns() {
    if (step_blocks_ == 0) return;
    backward_blocks(step_batch_, step_parts_, step_first_, step_blocks_);
  }

  /// Steps 4c–5, once the gradients hold the sum over every replica: clip, one Adam step, then the
  /// memory write of query_memory()'s queries with `labels`. Returns the step's result (the loss of
  /// query_memory, the batch's correct predictions, the summed gradient's norm before clipping).
  /// \throws ValueError for a non-finite gradient (before anything changes).
  StepResult apply_step(const std::vector<Value>& labels) {
    StepResult result;
    result.loss = static_cast<double>(step_loss_);
    result.correct = count_correct(labels);
    result.grad_norm = options_.clip_norm > 0 ? clip_grad_norm(parameters_, options_.clip_norm)
                                              : global_grad_norm(parameters_);
    optimizer_.step();
    memory_.update(memory_cache_, labels);
    return result;
  }

  /// The nearest neighbour's value for each column of images (evaluation mode: no dropout, no
  /// weight or memory change); Memory::kEmpty (−1) while the memory is empty. The reference stays
  /// valid until the next call of any member.
  const std::vector<Value>& predict(const ConstRef& images) {
    auto& cache = caches_.back();  // threads > 1: a cache of its own, so the blocks' caches keep their sizes
    encoder_.forward(images, cache, false, rng_);
    memory_.query(cache.embedding, memory_cache_);
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
  /// The encoder activations of the last train_step / compute_gradients (with threads > 1: of its
  /// first block of columns only, and predict() and write() use another cache).
  const typename ConvNetEncoder<Scalar>::Cache& encoder_cache() const { return caches_[0]; }
  /// The memory's neighbours, losses and predictions of the last query (whole batch).
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
  // Columns [begin, begin + size) of block i when `batch` columns are split into `parts` blocks.
  static std::pair<Index, Index> block(Index batch, int parts, int i) {
    const Index base = batch / parts, extra = batch % parts;
    return {i * base + std::min<Index>(i, extra), base + (i < extra ? 1 : 0)};
  }
  // Blocks of a batch over every replica's threads.
  int replica_parts(Index batch) const {
    return static_cast<int>(std::clamp<Index>(batch, 1, static_cast<Index>(ranks_) * options_.threads));
  }
  ConvNetEncoder<Scalar>& block_encoder(int i) { return i == 0 ? encoder_ : replicas_[static_cast<std::size_t>(i - 1)]; }
  // Encodes blocks first … first + count − 1 (count >= 1) of a batch of `batch` columns cut into
  // `parts`, one per thread (block first + i by block_encoder(i) with its dropout generator); images
  // holds those blocks' columns, the batch's from column `begin`. Returns their queries side by side.
  const Mat& encode_blocks(const ConstRef& images, Index batch, int parts, int first, int count, Index begin,
                           bool training) {
    if (count == 1) return encoder_.forward(images, caches_[0], training, rng_);
    for (int i = 1; i < count; ++i) copy_values(parameters_, replica_parameters_[static_cast<std::size_t>(i - 1)]);
    auto forward = [&](int i) {
      const auto [b, s] = block(batch, parts, first + i);
      block_encoder(i).forward(images.middleCols(b - begin, s), caches_[static_cast<std::size_t>(i)], training,
                               i == 0 ? rng_ : replica_rngs_[static_cast<std::size_t>(i - 1)]);
    };
    pool_->run(count, forward);
    local_query_.resize(encoder_.embedding_size(), images.cols());
    for (int i = 0; i < count; ++i) {
      const auto [b, s] = block(batch, parts, first + i);
      local_query_.middleCols(b - begin, s) = caches_[static_cast<std::size_t>(i)].embedding;
    }
    return local_query_;
  }
  // Back-propagates d_query_'s columns of those blocks into the parameters' gradients (summed over
  // the blocks' encoder copies).
  void backward_blocks(Index batch, int parts, int first, int count) {
    if (count == 1) {
      const auto [b, s] = block(batch, parts, first);
      encoder_.backward(caches_[0], d_query_.middleCols(b, s));
      return;
    }
    auto backward = [&](int i) {
      const auto [b, s] = block(batch, parts, first + i);
      if (i > 0) zero_grad(replica_parameters_[static_cast<std::size_t>(i - 1)]);
      block_encoder(i).backward(caches_[static_cast<std::size_t>(i)], d_query_.middleCols(b, s));
    };
    pool_->run(count, backward);
    for (int i = 1; i < count; ++i) {
      const ParameterList<Scalar>& replica = replica_parameters_[static_cast<std::size_t>(i - 1)];
      for (std::size_t p = 0; p < parameters_.size(); ++p) parameters_[p].parameter->grad += replica[p].parameter->grad;
    }
  }
  static void copy_values(const ParameterList<Scalar>& from, const ParameterList<Scalar>& to) {
    for (std::size_t p = 0; p < from.size(); ++p) to[p].parameter->value = from[p].parameter->value;
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
  std::vector<typename ConvNetEncoder<Scalar>::Cache> caches_;  // one per thread, + predict()'s when threads > 1
  typename Memory::Cache memory_cache_;
  Mat d_query_;
  // threads > 1: the workers, and for block i >= 1 its encoder copy, parameter list and dropout Rng
  std::unique_ptr<ThreadPool> pool_;
  std::vector<ConvNetEncoder<Scalar>> replicas_;
  std::vector<ParameterList<Scalar>> replica_parameters_;
  std::vector<Rng> replica_rngs_;
  // data-parallel: this replica, and the geometry and loss of the current step
  int rank_ = 0, ranks_ = 1;
  Index step_batch_ = 0;
  int step_parts_ = 1, step_first_ = 0, step_blocks_ = 0;
  Scalar step_loss_ = 0;
  Mat local_query_;  // the queries of encode_blocks when they span several blocks
};

/// A few-shot classifier (the callable of mann/data/few_shot_evaluation.hpp) made of a trained
/// encoder and a memory of its own, as the ConvNet with memory is evaluated (§4, Table 1): for each
/// episode it clears the memory, writes the support set one column after another with the update rule
/// (a second shot of a class whose key is already nearest merges into it: K ← (q + K)/‖q + K‖), then
/// predicts each query as its nearest neighbour's value, without writing it. Dropout is off.
/// The encoder is shared by reference (const; it must outlive the classifier and not change while
/// in use); everything else is the classifier's own, so one classifier per thread can run in parallel.
template <class Scalar = float>
class ConvNetMemoryClassifier {
 public:
  /// `memory_options` as the model's; update_from_prediction is forced off (one column at a time)
  /// and age_noise to 0 (the few written slots of an episode are never chosen as the oldest while an
  /// empty slot remains). \throws ValueError as KeyValueMemory's constructor.
  ConvNetMemoryClassifier(const ConvNetEncoder<Scalar>& encoder, Index memory_size, KeyValueMemoryOptions memory_options)
      : encoder_(&encoder), memory_(memory_size, encoder.embedding_size(), evaluation_options(memory_options)) {}

  /// \throws ShapeError for images of the wrong size or labels not one per support column.
  void operator()(const Matrix<Scalar>& support, const std::vector<int>& support_labels, int /*ways*/,
                  const Matrix<Scalar>& queries, std::vector<int>& predictions) {
    write_support(support, support_labels);
    encoder_->forward(queries, encoder_cache_, false, rng_);
    memory_.query(encoder_cache_.embedding, memory_cache_);
    predictions.assign(memory_cache_.predictions.begin(), memory_cache_.predictions.end());
  }

  /// Kaiser et al.'s sequential reading (FewShotEpisodeOptions::sequential): the support set as
  /// above, then each query in column order is predicted (its nearest key's value) and then written
  /// with its label by the update rule, before the next query. \throws ShapeError as operator(),
  /// or for query_labels not one per query column.
  void sequential(const Matrix<Scalar>& support, const std::vector<int>& support_labels, int /*ways*/,
                  const Matrix<Scalar>& queries, const std::vector<int>& query_labels, std::vector<int>& predictions) {
    check_labels(query_labels, queries.cols(), "query_labels", "query");
    write_support(support, support_labels);
    encoder_->forward(queries, encoder_cache_, false, rng_);
    predictions.resize(query_labels.size());
    for (Index j = 0; j < queries.cols(); ++j) {
      memory_.query(encoder_cache_.embedding.col(j), memory_cache_);
      predictions[static_cast<std::size_t>(j)] = static_cast<int>(memory_cache_.predictions[0]);
      targets_.assign(1, query_labels[static_cast<std::size_t>(j)]);
      memory_.update(memory_cache_, targets_);
    }
  }

  const KeyValueMemory<Scalar>& memory() const { return memory_; }

 private:
  static void check_labels(const std::vector<int>& labels, Index columns, const char* name, const char* what) {
    if (static_cast<Index>(labels.size()) != columns) {
      throw ShapeError(detail::concat("mann::ConvNetMemoryClassifier: ", name, " has ", labels.size(),
                                      " labels, expected ", columns, " (the ", what, " columns)"));
    }
  }

  // Clears the memory and writes the support columns one after another with the update rule.
  void write_support(const Matrix<Scalar>& support, const std::vector<int>& support_labels) {
    check_labels(support_labels, support.cols(), "support_labels", "support");
    memory_.clear();
    targets_.assign(support_labels.begin(), support_labels.end());
    encoder_->forward(support, encoder_cache_, false, rng_);
    memory_.query(encoder_cache_.embedding, memory_cache_);
    memory_.update(memory_cache_, targets_);
  }

  static KeyValueMemoryOptions evaluation_options(KeyValueMemoryOptions options) {
    options.update_from_prediction = false;
    options.age_noise = 0;
    return options;
  }

  const ConvNetEncoder<Scalar>* encoder_;
  KeyValueMemory<Scalar> memory_;
  Rng rng_{1};  // unused: dropout is off
  typename ConvNetEncoder<Scalar>::Cache encoder_cache_;
  typename KeyValueMemory<Scalar>::Cache memory_cache_;
  std::vector<typename KeyValueMemory<Scalar>::Value> targets_;
};

}  // namespace mann
