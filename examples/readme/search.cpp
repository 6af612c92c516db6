// k-nearest-neighbour search by inner product: exact, and LSH (random hyperplanes, multi-probe)
// for large memories; the recall of the LSH measured against the exact result.
#include <cstdio>

#include <mann/mann.hpp>

int main() {
  const mann::Index dimension = 64, keys = 20000, queries = 100, k = 10;
  mann::Rng rng(1);
  auto unit_columns = [&](mann::Index count) {
    mann::MatrixF m = mann::MatrixF::NullaryExpr(dimension, count, [&] { return static_cast<float>(rng.normal()); });
    m.colwise().normalize();
    return m;
  };
  const mann::MatrixF data = unit_columns(keys);
  mann::MatrixF q = data.leftCols(queries) + 0.3f * unit_columns(queries);  // near keys 0 … 99

  mann::ExactIndex<float> exact(dimension);
  exact.add(data);  // keys get slots 0, 1, 2, ...
  mann::LshSearchParams probing;  // more buckets per table: higher recall, slower queries
  probing.probes_per_table = 64;
  mann::LshIndex<float> lsh(dimension, mann::LshParams::for_size(keys), probing);
  lsh.add(data);

  mann::KnnResult<float> truth, approximate;  // k × queries slot ids and scores
  exact.search(q, k, truth);
  lsh.search(q, k, approximate);
  int found = 0, own = 0;
  for (mann::Index j = 0; j < queries; ++j) {
    own += truth.indices(0, j) == j ? 1 : 0;
    for (mann::Index i = 0; i < k; ++i) found += (approximate.indices.col(j).array() == truth.indices(i, j)).any();
  }
  std::printf("exact: %d of %d queries find their own key first\n", own, int(queries));
  std::printf("LSH recall@%d: %.3f\n", int(k), found / double(k * queries));
  return own == queries && found >= 0.85 * k * queries ? 0 : 1;
}
