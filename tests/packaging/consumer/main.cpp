// Consumer of the installed library: builds an LSTM, runs one step, prints the output norm.
#include <iostream>

#include <mann/mann.hpp>

int main() {
  mann::Rng rng(1);
  mann::Lstm<float> lstm(3, 4, rng);
  mann::Lstm<float>::Step step;
  mann::MatrixF x = mann::MatrixF::Ones(3, 2);
  lstm.forward_step(x, nullptr, step);
  std::cout << "mann " << mann::version_major << "." << mann::version_minor << " ok "
            << step.h.norm() << "\n";
  return step.h.allFinite() ? 0 : 1;
}
