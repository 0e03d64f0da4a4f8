"""The benchmark of issue 8: checkouts per second, latency and cost, next to the broker's and Faust's own limits.

``python -m bench`` (``make bench``) starts an isolated platform, or targets a running
one with ``--gateway URL``, and measures in one run: the ceilings of the broker and of
a bare Faust agent, messages per order, capacity, latency at half capacity and the CPU
and memory of every process. It prints one table and writes JSON and a PNG chart under
``bench/results/``. Nothing in it is a test assertion; ``tests/test_bench.py`` only checks
that ``--quick`` produces every figure.
"""

from bench.stats import histogram_quantiles, summary

__all__ = ["summary", "histogram_quantiles"]
