"""How numbers look in what neurenix shows: counts of steps and episodes carry thousands separators in every
line meant for people (`step 8,192`), and stay plain integers in files and JSON, which scripts read."""

from __future__ import annotations


def thousands(count: int | None) -> str:
    """`8192` -> `8,192`; None (not known yet) -> `-`."""
    return "-" if count is None else f"{int(count):,}"
