"""Percentiles of samples and of Prometheus histograms, as the report prints them."""

from __future__ import annotations

import math
from typing import Iterable, Sequence

__all__ = ["summary", "quantile", "histogram_quantiles", "Summary"]

Summary = dict[str, float | int | None]
QUANTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank quantile of sorted samples: ``q`` of the samples are at or below it."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summary(samples: Iterable[float], digits: int = 1) -> Summary:
    """``n``, ``p50``, ``p95``, ``p99``, ``max`` and ``mean`` of ``samples`` (``None`` when empty)."""
    ordered = sorted(samples)
    out: Summary = {"n": len(ordered)}
    for name, q in QUANTILES:
        v = quantile(ordered, q)
        out[name] = None if v is None else round(v, digits)
    out["max"] = round(ordered[-1], digits) if ordered else None
    out["mean"] = round(sum(ordered) / len(ordered), digits) if ordered else None
    return out


def histogram_quantiles(buckets: dict[float, float], scale: float = 1000.0, digits: int = 1) -> Summary:
    """Quantiles of a Prometheus histogram (``le`` -> cumulative count), interpolated inside a bucket
    as ``histogram_quantile`` does; ``scale`` turns seconds into milliseconds. A quantile in the
    ``+Inf`` bucket is reported as the last finite bound (a lower bound)."""
    bounds = sorted(buckets)
    total = buckets.get(math.inf, buckets[bounds[-1]] if bounds else 0.0)
    out: Summary = {"n": int(total)}
    for name, q in QUANTILES:
        out[name] = None
        if total <= 0:
            continue
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for le in bounds:
            count = buckets[le]
            if count >= rank:
                if math.isinf(le):
                    value = lower_bound
                else:
                    inside = count - lower_count
                    value = lower_bound + (le - lower_bound) * ((rank - lower_count) / inside if inside else 1.0)
                out[name] = round(value * scale, digits)
                break
            lower_bound, lower_count = le, count
    return out
