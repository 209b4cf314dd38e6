"""Percentiles and a tidy printout for the benchmarks."""

from __future__ import annotations

import statistics


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(name: str, seconds: list[float], *percentiles: float) -> str:
    ms = [s * 1000 for s in seconds]
    parts = [f"p50 {statistics.median(ms):8.2f} ms"] + [f"p{int(p)} {percentile(ms, p):8.2f} ms" for p in percentiles]
    return f"{name:42} n={len(ms):5d}  " + "  ".join(parts)
