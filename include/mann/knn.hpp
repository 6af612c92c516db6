// mann/knn.hpp: top-k nearest-neighbour search by inner product: exact (blocked GEMM) and LSH
// (multi-probe, SIMD popcount). Eigen only (Linux huge pages where available).
#pragma once

#include "mann/knn/bucket_arena.hpp"
#include "mann/knn/exact.hpp"
#include "mann/knn/huge_pages.hpp"
#include "mann/knn/index.hpp"
#include "mann/knn/lsh.hpp"
#include "mann/knn/simd.hpp"
#include "mann/knn/topk.hpp"
