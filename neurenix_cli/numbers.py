"""How numbers look in what neurenix shows and records: one rule for counts, one for measured floats.

Counts of steps and episodes carry thousands separators in every line meant for people (`step 8,192`), and stay
plain integers in files and JSON, which scripts read. Measured floats (returns, times, rates) keep 6 significant
digits wherever a run records them (the CSV files, summary.json, eval.json, and so `--json` and the tables):
they come out of float32 arithmetic, which resolves about 7, so a mean like `-4.999999999999998` is `-5.0`, not
noise for every script to round again.
"""

from __future__ import annotations

from typing import Any

SIGNIFICANT_DIGITS = 6


def thousands(count: int | None) -> str:
    """`8192` -> `8,192`; None (not known yet) -> `-`."""
    return "-" if count is None else f"{int(count):,}"


def significant(value: float) -> str:
    """A measured float as text: `0.000123457`, `-5`."""
    return f"{value:.{SIGNIFICANT_DIGITS}g}"


def rounded(data: Any) -> Any:
    """`data` with every float rounded to SIGNIFICANT_DIGITS significant digits, walking dicts and lists."""
    if isinstance(data, float):
        return float(significant(data))
    if isinstance(data, dict):
        return {key: rounded(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [rounded(value) for value in data]
    return data
