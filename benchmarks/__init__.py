"""Benchmarks of the render pipeline, never run as tests: ``make bench``.

``python -m benchmarks.render`` makes its inputs in code, measures every method in fresh
processes over interleaved rounds, prints the table and the goals, and writes
``benchmarks/results.md``. The peers come from ``requirements/bench.txt``.
"""
