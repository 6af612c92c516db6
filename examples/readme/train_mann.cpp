// Train a MANN (LSTM controller, LRUA memory) on synthetic one-shot episodes, then score it by
// instance on held-out episodes. Small sizes, so it runs in seconds; the paper's are the defaults.
#include <cstdio>

#include <mann/mann.hpp>

int main() {
  using Model = mann::Mann<float, mann::Lstm<float>, mann::LruaHead<float>>;
  mann::SyntheticEpisodeOptions task;  // 5 classes, 50 steps; random prototypes plus noise
  task.dimension = 20;
  task.length = 50;
  mann::MannConfig config;  // 5 classes, one-hot labels
  config.input_size = task.dimension;
  mann::LruaHead<float>::Options memory;  // the paper's 128 slots x 40, 4 heads; reads softmax(10 K)
  memory.slots = 32;
  memory.width = 16;
  memory.heads = 2;
  mann::LruaHead<float> head(memory);
  mann::Rng rng(1);
  Model model(config, mann::Lstm<float>(Model::controller_input_size(config, head), 32, rng), head, rng);

  mann::ParallelTrainer<Model> trainer(model, /*threads=*/2);
  mann::RmsProp<float>::Options options;  // decay 0.95, momentum 0.9
  options.learning_rate = 1e-3;
  mann::RmsProp<float> optimizer(model.parameters(), options);
  mann::SyntheticEpisodes<float> train(task, /*seed=*/1), test(task, /*seed=*/2);
  mann::EpisodeBatch<float> batch;
  const int batch_size = 16;
  for (int step = 0; step < 1500; ++step) {
    train.generate(batch, batch_size, /*first_episode=*/static_cast<std::uint64_t>(step) * batch_size);
    trainer.train_step(batch, optimizer, mann::LabelEncoding::one_hot);
  }

  mann::InstanceAccuracy accuracy;  // correct predictions at the 1st, 2nd, ... sight of a class
  for (int i = 0; i < 10; ++i) {
    test.generate(batch, batch_size, static_cast<std::uint64_t>(i) * batch_size);
    trainer.evaluate(batch, mann::LabelEncoding::one_hot, &accuracy);
  }
  for (int instance : {1, 2, 5, 10}) {
    std::printf("instance %2d: %5.1f%% correct\n", instance, 100 * accuracy.accuracy(instance));
  }
  return accuracy.accuracy(2) > 0.3 ? 0 : 1;  // chance is 20%
}
