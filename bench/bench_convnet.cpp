// Benchmarks of the ConvNet encoder of Kaiser et al. 2017 at the paper's sizes (28 × 28 × 1,
// conv 64, 64, 128, 128, FC 256, 256), batch 16, and of Conv2d alone at 64 → 64 on 28 × 28 and
// 128 → 128 on 14 × 14; also a one-GEMM-per-batch convolution (stacked im2col + reorder) to
// compare with Conv2d's one GEMM per image. GFLOP/s count 2 flops per multiply-add of the
// convolutions and fully connected layers; "threads" is Eigen::nbThreads() (1 without OpenMP).
// Measured (Release, -march=native, AVX-512, 1 thread, a 2-core machine shared with other jobs):
// ConvNet forward + backward 69.6 ms per batch of 16 (103 GFLOP/s), forward 21.4 ms (112 GFLOP/s);
// Conv2d forward + backward 24.0 ms at 64→64 28×28 (116), 22.1 ms at 128→128 14×14 (126); forward
// one GEMM per image 7.9 / 8.0 ms vs one per batch 9.3 / 8.2 ms, hence one per image.
#include <benchmark/benchmark.h>

#include "mann/core/init.hpp"
#include "mann/models/conv_net.hpp"
#include "mann/models/conv_net_memory.hpp"

namespace {

constexpr mann::Index kBatch = 16;

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
  state.counters["threads"] = static_cast<double>(Eigen::nbThreads());
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_ConvNet_ForwardBackward(benchmark::State& state) {
  mann::Rng rng(1);
  mann::ConvNetEncoder<float> encoder(mann::ConvNetEncoderOptions{}, rng);
  mann::MatrixF images(encoder.input_size(), kBatch), d_embedding(encoder.embedding_size(), kBatch);
  mann::init_uniform(images, rng, 0.0, 1.0);
  mann::init_normal(d_embedding, rng, 1.0);
  mann::ConvNetEncoder<float>::Cache cache;
  encoder.forward(images, cache, true, rng);
  encoder.backward(cache, d_embedding);
  for (auto _ : state) {
    encoder.forward(images, cache, true, rng);
    encoder.backward(cache, d_embedding);
    benchmark::DoNotOptimize(cache.d_conv1.data());
    benchmark::ClobberMemory();
  }
  // forward, weight gradient and input gradient each cost the forward's multiply-adds, except
  // that the first convolution computes no input gradient.
  const double macs = encoder.multiply_adds_per_image();
  set_counters(state, 2.0 * kBatch * (3 * macs - encoder.conv(1).multiply_adds_per_image()));
}
BENCHMARK(BM_ConvNet_ForwardBackward)->Unit(benchmark::kMillisecond);

void BM_ConvNet_Forward(benchmark::State& state) {
  mann::Rng rng(1);
  mann::ConvNetEncoder<float> encoder(mann::ConvNetEncoderOptions{}, rng);
  mann::MatrixF images(encoder.input_size(), kBatch);
  mann::init_uniform(images, rng, 0.0, 1.0);
  mann::ConvNetEncoder<float>::Cache cache;
  encoder.forward(images, cache, false, rng);
  for (auto _ : state) {
    encoder.forward(images, cache, false, rng);
    benchmark::DoNotOptimize(cache.embedding.data());
  }
  set_counters(state, 2.0 * kBatch * encoder.multiply_adds_per_image());
}
BENCHMARK(BM_ConvNet_Forward)->Unit(benchmark::kMillisecond);

// Arguments: channels (in = out), image side.
void BM_Conv2d_ForwardBackward(benchmark::State& state) {
  const mann::Index channels = state.range(0), side = state.range(1);
  mann::Rng rng(1);
  mann::Conv2d<float> conv(channels, channels, side, side, rng);
  mann::MatrixF x(conv.input_size(), kBatch), dy(conv.output_size(), kBatch), y, dx;
  mann::init_normal(x, rng, 1.0);
  mann::init_normal(dy, rng, 1.0);
  mann::Conv2d<float>::Workspace ws;
  conv.forward(x, y, ws);
  conv.backward(x, dy, &dx, ws);
  for (auto _ : state) {
    conv.forward(x, y, ws);
    conv.backward(x, dy, &dx, ws);
    benchmark::DoNotOptimize(dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 3 * 2.0 * kBatch * conv.multiply_adds_per_image());
}
BENCHMARK(BM_Conv2d_ForwardBackward)->Args({64, 28})->Args({128, 14})->Unit(benchmark::kMillisecond);

void BM_Conv2d_Forward(benchmark::State& state) {
  const mann::Index channels = state.range(0), side = state.range(1);
  mann::Rng rng(1);
  mann::Conv2d<float> conv(channels, channels, side, side, rng);
  mann::MatrixF x(conv.input_size(), kBatch), y;
  mann::init_normal(x, rng, 1.0);
  mann::Conv2d<float>::Workspace ws;
  conv.forward(x, y, ws);
  for (auto _ : state) {
    conv.forward(x, y, ws);
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, 2.0 * kBatch * conv.multiply_adds_per_image());
}
BENCHMARK(BM_Conv2d_Forward)->Args({64, 28})->Args({128, 14})->Unit(benchmark::kMillisecond);

// The alternative: all images' patches stacked (B·H·W × C·9), one GEMM, then the result reordered
// into the channel-major columns.
void BM_Conv2d_Forward_OneGemmPerBatch(benchmark::State& state) {
  const mann::Index channels = state.range(0), side = state.range(1), pixels = side * side;
  mann::Rng rng(1);
  mann::Conv2d<float> conv(channels, channels, side, side, rng);
  mann::MatrixF x(conv.input_size(), kBatch), y(conv.output_size(), kBatch);
  mann::init_normal(x, rng, 1.0);
  mann::MatrixF patches(kBatch * pixels, channels * 9), stacked(kBatch * pixels, channels);
  for (auto _ : state) {
    for (mann::Index b = 0; b < kBatch; ++b) conv.im2col(x.col(b).data(), patches.data() + b * pixels, patches.rows());
    stacked.noalias() = patches * conv.weight.value.transpose();
    for (mann::Index b = 0; b < kBatch; ++b) {
      Eigen::Map<mann::MatrixF> out(y.col(b).data(), pixels, channels);
      out = stacked.middleRows(b * pixels, pixels);
      out.rowwise() += conv.bias.value.col(0).transpose();
    }
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, 2.0 * kBatch * conv.multiply_adds_per_image());
}
BENCHMARK(BM_Conv2d_Forward_OneGemmPerBatch)->Args({64, 28})->Args({128, 14})->Unit(benchmark::kMillisecond);

// One training step of the ConvNet with memory (encoder forward, memory query and loss, backward,
// Adam, memory write) on a batch of 16 images from 16 episodes of 5 classes sharing the memory, as
// the example trains; argument: options.threads (the batch split across them). The memory holds one
// example of each of the 80 labels.
void BM_ConvNetWithMemory_TrainStep(benchmark::State& state) {
  mann::ConvNetWithMemoryOptions options;
  options.threads = static_cast<int>(state.range(0));
  mann::ConvNetWithMemory<float> model(options);
  mann::Rng rng(2);
  mann::MatrixF support(model.encoder().input_size(), 80), images(model.encoder().input_size(), kBatch);
  mann::init_uniform(support, rng, 0.0, 1.0);
  mann::init_uniform(images, rng, 0.0, 1.0);
  std::vector<std::int64_t> support_labels(80), labels(kBatch);
  for (std::size_t i = 0; i < support_labels.size(); ++i) support_labels[i] = static_cast<std::int64_t>(i);
  for (std::size_t b = 0; b < labels.size(); ++b) labels[b] = static_cast<std::int64_t>(5 * b + b % 5);
  model.write(support, support_labels);
  model.train_step(images, labels);
  for (auto _ : state) {
    const auto result = model.train_step(images, labels);
    benchmark::DoNotOptimize(result.loss);
  }
  const double macs = model.encoder().multiply_adds_per_image();
  set_counters(state, 2.0 * kBatch * (3 * macs - model.encoder().conv(1).multiply_adds_per_image()));
  state.counters["threads"] = static_cast<double>(options.threads);
}
BENCHMARK(BM_ConvNetWithMemory_TrainStep)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
