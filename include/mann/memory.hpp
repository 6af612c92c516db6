// mann/memory.hpp: the external memory of the MANN: cosine content addressing (Santoro et al. eqs 2–4),
// the LRUA head (eqs 5–8), the NTM head (Graves et al. 2014). Eigen only.
#pragma once

#include "mann/memory/cosine.hpp"
#include "mann/memory/lrua_head.hpp"
#include "mann/memory/ntm_head.hpp"
#include "mann/memory/slot_products.hpp"
