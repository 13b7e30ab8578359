//! Shared helpers for the benchmarks: synthetic payload generators.
