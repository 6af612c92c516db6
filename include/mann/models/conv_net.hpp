// mann/models/conv_net.hpp: the convolutional encoder of Kaiser et al. 2017 (§4 "Convolutional
// Network with Memory", SPEC §2): images → a query for the key-value memory.
#pragma once

#include <string>

#include "mann/core/error.hpp"
#include "mann/core/init.hpp"
#include "mann/core/parameter.hpp"
#include "mann/core/random.hpp"
#include "mann/nn/conv2d.hpp"
#include "mann/nn/dropout.hpp"
#include "mann/nn/linear.hpp"
#include "mann/nn/max_pool2d.hpp"
#include "mann/nn/relu.hpp"

namespace mann {

/// Sizes of a ConvNetEncoder. Defaults: the paper's network on 28 × 28 grey Omniglot images.
struct ConvNetEncoderOptions {
  Index channels = 1;          ///< input channels
  Index height = 28;           ///< input height, >= 4 (two 2 × 2 poolings)
  Index width = 28;            ///< input width, >= 4
  Index conv1_channels = 64;   ///< the first pair of 3 × 3 convolutions
  Index conv2_channels = 128;  ///< the second pair
  Index hidden_size = 256;     ///< the first fully connected layer
  Index embedding_size = 256;  ///< the second fully connected layer: the query
  /// Dropout between the fully connected layers; the paper gives no rate, 0.5 is the usual one
  /// (the authors' code: 0.7, keep probability 0.3).
  double dropout = 0.5;
  /// ReLU after the first fully connected layer. SPEC §2 does not say; the authors' code has none
  /// (its embedder ends in a linear layer). false: the two fully connected layers are both linear.
  bool hidden_relu = true;
  /// > 0: the convolutions' and the first fully connected layer's weights from N(0, σ²) truncated
  /// at 2σ (the authors' code: 0.1); 0: He-normal (convolutions) and Glorot-uniform.
  double init_stddev = 0;
  /// > 0: the query layer's weights from N(0, σ²) truncated at 2σ (the authors' code: 0.01, its
  /// memory's query projection); 0: Glorot-uniform.
  double query_init_stddev = 0;
};

/// conv 3×3 (conv1_channels), ReLU, conv 3×3 (conv1_channels), ReLU, max-pool 2×2,
/// conv 3×3 (conv2_channels), ReLU, conv 3×3 (conv2_channels), ReLU, max-pool 2×2,
/// fully connected hidden_size, ReLU (unless options.hidden_relu is false), dropout, fully connected
/// embedding_size (linear: the un-normalised query; the key-value memory normalises it).
///
/// Images are (channels·height·width) × B, one image per column, channel-major then row-major (the
/// layout of Conv2d: a 28 × 28 image flattened row by row). Convolutions: He-normal weights (ReLU
/// follows each); fully connected: Glorot-uniform; biases zero. Odd sizes: each pooling drops the
/// last row/column (see MaxPool2d).
///
/// forward() is const and fills a caller-owned Cache: several threads may encode concurrently, each
/// with its own Cache and Rng. backward() adds into the parameters' gradients (not concurrently).
/// A Cache reused for batches of one size makes forward + backward allocation-free after the first.
template <class Scalar = float>
class ConvNetEncoder {
 public:
  using Mat = Matrix<Scalar>;
  using ConstRef = Eigen::Ref<const Mat>;

  /// Every activation of one forward pass (post-ReLU where a ReLU follows), the layers' caches, and
  /// the backward pass's scratch.
  struct Cache {
    Mat input;                         ///< a copy of the images
    Mat conv1, conv2, pool1;           ///< first block
    Mat conv3, conv4, pool2;           ///< second block; pool2 is the flattened feature vector
    Mat hidden, dropped, embedding;    ///< fully connected part
    typename MaxPool2d<Scalar>::Cache pool1_cache, pool2_cache;
    typename Dropout<Scalar>::Cache dropout_cache;
    typename Conv2d<Scalar>::Workspace conv1_ws, conv2_ws, conv3_ws, conv4_ws;
    Mat d_dropped, d_hidden, d_pool2, d_conv4, d_conv3, d_pool1, d_conv2, d_conv1;  // backward
  };

  ConvNetEncoder() = default;

  /// \throws ValueError for a size < 1, height or width < 4, or dropout outside [0, 1).
  ConvNetEncoder(const ConvNetEncoderOptions& options, Rng& rng) : options_(options) {
    const char* where = "mann::ConvNetEncoder";
    check_value(options.height >= 4, where, "options.height", options.height, ">= 4 (two 2x2 poolings)");
    check_value(options.width >= 4, where, "options.width", options.width, ">= 4 (two 2x2 poolings)");
    const Index h = options.height, w = options.width, h2 = h / 2, w2 = w / 2;
    conv1_ = Conv2d<Scalar>(options.channels, options.conv1_channels, h, w, rng);
    conv2_ = Conv2d<Scalar>(options.conv1_channels, options.conv1_channels, h, w, rng);
    pool1_ = MaxPool2d<Scalar>(options.conv1_channels, h, w);
    conv3_ = Conv2d<Scalar>(options.conv1_channels, options.conv2_channels, h2, w2, rng);
    conv4_ = Conv2d<Scalar>(options.conv2_channels, options.conv2_channels, h2, w2, rng);
    pool2_ = MaxPool2d<Scalar>(options.conv2_channels, h2, w2);
    fc1_ = Linear<Scalar>(pool2_.output_size(), options.hidden_size, rng);
    fc2_ = Linear<Scalar>(options.hidden_size, options.embedding_size, rng);
    dropout_ = Dropout<Scalar>(options.dropout);
    check_value(options.init_stddev >= 0, where, "options.init_stddev", options.init_stddev, ">= 0");
    check_value(options.query_init_stddev >= 0, where, "options.query_init_stddev", options.query_init_stddev, ">= 0");
    if (options.init_stddev > 0) {
      for (Conv2d<Scalar>* conv : {&conv1_, &conv2_, &conv3_, &conv4_}) {
        init_truncated_normal(conv->weight.value, rng, options.init_stddev);
      }
      init_truncated_normal(fc1_.weight.value, rng, options.init_stddev);
    }
    if (options.query_init_stddev > 0) init_truncated_normal(fc2_.weight.value, rng, options.query_init_stddev);
  }

  const ConvNetEncoderOptions& options() const { return options_; }
  Index input_size() const { return conv1_.input_size(); }
  Index embedding_size() const { return fc2_.output_size(); }
  /// Multiply-adds of one image's forward pass (convolutions and fully connected layers).
  double multiply_adds_per_image() const {
    return conv1_.multiply_adds_per_image() + conv2_.multiply_adds_per_image() +
           conv3_.multiply_adds_per_image() + conv4_.multiply_adds_per_image() +
           static_cast<double>(fc1_.input_size() * fc1_.output_size() + fc2_.input_size() * fc2_.output_size());
  }

  /// Encodes images ((channels·height·width) × B) into cache.embedding (embedding_size × B), which
  /// it returns. training: dropout active (masks drawn from rng); false: dropout is the identity and
  /// rng is not used. \throws ShapeError unless images has input_size() rows; ValueError on NaN/Inf.
  const Mat& forward(const ConstRef& images, Cache& cache, bool training, Rng& rng) const {
    const char* where = "mann::ConvNetEncoder::forward";
    check_shape(images, input_size(), -1, where, "images (channels*height*width x batch)");
    if (!images.allFinite()) check_finite(images, where, "images");
    cache.input = images;
    conv1_.forward(cache.input, cache.conv1, cache.conv1_ws);
    ReLU<Scalar>::forward_inplace(cache.conv1);
    conv2_.forward(cache.conv1, cache.conv2, cache.conv2_ws);
    ReLU<Scalar>::forward_inplace(cache.conv2);
    pool1_.forward(cache.conv2, cache.pool1, cache.pool1_cache);
    conv3_.forward(cache.pool1, cache.conv3, cache.conv3_ws);
    ReLU<Scalar>::forward_inplace(cache.conv3);
    conv4_.forward(cache.conv3, cache.conv4, cache.conv4_ws);
    ReLU<Scalar>::forward_inplace(cache.conv4);
    pool2_.forward(cache.conv4, cache.pool2, cache.pool2_cache);
    fc1_.forward(cache.pool2, cache.hidden);
    if (options_.hidden_relu) ReLU<Scalar>::forward_inplace(cache.hidden);
    dropout_.forward(cache.hidden, cache.dropped, cache.dropout_cache, training, rng);
    fc2_.forward(cache.dropped, cache.embedding);
    return cache.embedding;
  }

  /// Adds dL/dθ for d_embedding = dL/d(embedding) (embedding_size × B) into every parameter's
  /// gradient; overwrites *d_images with dL/d(images) when not null. Requires: cache from forward().
  /// \throws ShapeError if d_embedding does not match the cached embedding.
  void backward(Cache& cache, const ConstRef& d_embedding, Mat* d_images = nullptr) {
    check_shape(d_embedding, embedding_size(), cache.embedding.cols(), "mann::ConvNetEncoder::backward",
                "d_embedding");
    fc2_.backward(cache.dropped, d_embedding, &cache.d_dropped);
    dropout_.backward(cache.dropout_cache, cache.d_dropped, cache.d_hidden);
    if (options_.hidden_relu) ReLU<Scalar>::backward_inplace(cache.hidden, cache.d_hidden);
    fc1_.backward(cache.pool2, cache.d_hidden, &cache.d_pool2);
    pool2_.backward(cache.pool2_cache, cache.d_pool2, cache.d_conv4);
    ReLU<Scalar>::backward_inplace(cache.conv4, cache.d_conv4);
    conv4_.backward(cache.conv3, cache.d_conv4, &cache.d_conv3, cache.conv4_ws);
    ReLU<Scalar>::backward_inplace(cache.conv3, cache.d_conv3);
    conv3_.backward(cache.pool1, cache.d_conv3, &cache.d_pool1, cache.conv3_ws);
    pool1_.backward(cache.pool1_cache, cache.d_pool1, cache.d_conv2);
    ReLU<Scalar>::backward_inplace(cache.conv2, cache.d_conv2);
    conv2_.backward(cache.conv1, cache.d_conv2, &cache.d_conv1, cache.conv2_ws);
    ReLU<Scalar>::backward_inplace(cache.conv1, cache.d_conv1);
    conv1_.backward(cache.input, cache.d_conv1, d_images, cache.conv1_ws);
  }

  /// conv1…conv4 and fc1, fc2, each with .weight and .bias.
  void parameters(ParameterList<Scalar>& list, const std::string& prefix = "") {
    const auto name = [&](const char* layer) { return prefix.empty() ? std::string(layer) : prefix + "." + layer; };
    conv1_.parameters(list, name("conv1"));
    conv2_.parameters(list, name("conv2"));
    conv3_.parameters(list, name("conv3"));
    conv4_.parameters(list, name("conv4"));
    fc1_.parameters(list, name("fc1"));
    fc2_.parameters(list, name("fc2"));
  }

  const Conv2d<Scalar>& conv(int i) const {
    MANN_ASSERT(i >= 1 && i <= 4);
    return i == 1 ? conv1_ : i == 2 ? conv2_ : i == 3 ? conv3_ : conv4_;
  }
  const Linear<Scalar>& fc1() const { return fc1_; }
  const Linear<Scalar>& fc2() const { return fc2_; }

 private:
  ConvNetEncoderOptions options_;
  Conv2d<Scalar> conv1_, conv2_, conv3_, conv4_;
  MaxPool2d<Scalar> pool1_, pool2_;
  Linear<Scalar> fc1_, fc2_;
  Dropout<Scalar> dropout_;
};

}  // namespace mann
