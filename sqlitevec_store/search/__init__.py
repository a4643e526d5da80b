"""Vector, keyword and hybrid search over a collection: RAM index, kernels, MMR, fusion."""
