// tests/support/omniglot_test_images.hpp: the small slice of the real Omniglot data that tests train
// or check gradients on (the folder comes from MANN_OMNIGLOT_DIR_OR_SKIP, omniglot_test_data.hpp).
#pragma once

#include <string>
#include <vector>

#include "mann/data/omniglot.hpp"

namespace mann_test {

/// The first two alphabets of each Omniglot set: enough characters for real episodes, quick to load.
inline mann::OmniglotImages first_two_alphabets(const std::string& dir) {
  mann::OmniglotLoadOptions load;
  load.alphabet_limit = 2;
  return mann::load_omniglot(dir, load);
}

/// Every character of `images`, in order.
inline std::vector<mann::Index> all_characters(const mann::OmniglotImages& images) {
  std::vector<mann::Index> characters(static_cast<std::size_t>(images.size()));
  for (mann::Index c = 0; c < images.size(); ++c) characters[static_cast<std::size_t>(c)] = c;
  return characters;
}

}  // namespace mann_test
