"""Benchmarks (`make bench`): figures, not pass/fail tests. Results go to bench/results/."""
