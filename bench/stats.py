"""Summaries of per-run samples and the h1alt/stock ratio (pure functions)."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Sequence


@dataclass
class Summary:
    """Median and spread of one engine's samples in one scenario."""

    n: int
    median: float
    minimum: float
    maximum: float
    mean: float
    stdev: Optional[float]  # None for a single sample

    def as_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def summarize(samples: Sequence[float]) -> Summary:
    """Median, min, max, mean and (sample) stdev; raises ValueError when empty."""
    values = [float(sample) for sample in samples]
    if not values:
        raise ValueError("no samples to summarize")
    if any(math.isnan(value) for value in values):
        raise ValueError("NaN among the samples: %r" % (values,))
    return Summary(
        n=len(values),
        median=statistics.median(values),
        minimum=min(values),
        maximum=max(values),
        mean=statistics.fmean(values) if hasattr(statistics, "fmean") else statistics.mean(values),
        stdev=statistics.stdev(values) if len(values) > 1 else None,
    )


def ratio(h1alt: float, stock: float) -> Optional[float]:
    """h1alt / stock, or None when stock is zero (no meaningful ratio)."""
    if stock == 0:
        return None
    return h1alt / stock


def verdict(ratio_value: Optional[float], higher_is_better: bool, tolerance: float = 0.03) -> str:
    """A word for the ratio: "faster"/"slower" style, or "same" within +-tolerance.

    For throughput (higher is better) a ratio above 1 means h1alt is better;
    for a cost such as KiB per connection (lower is better), below 1 is better.
    """
    if ratio_value is None:
        return "n/a"
    if abs(ratio_value - 1.0) <= tolerance:
        return "same"
    better = ratio_value > 1.0 if higher_is_better else ratio_value < 1.0
    return "better" if better else "worse"
