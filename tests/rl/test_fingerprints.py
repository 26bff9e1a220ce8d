"""Training gives the numbers it gave at 96225b4, the last commit before the house was rebuilt (issue 22).

`fingerprints.json` holds what `fingerprint.py` printed there. The bit hash is checked on the kernel families it
was recorded on; the sums of every state array are checked on all (see fingerprint.py). A change that is meant to
alter training records new values with `python tests/rl/fingerprint.py` and says why in its commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fingerprint import RUNS, fingerprint, kernel_family

RECORDED = json.loads((Path(__file__).with_name("fingerprints.json")).read_text())


@pytest.mark.parametrize("run", sorted(RUNS))
def test_training_reproduces_the_recorded_fingerprint(run):
    now = fingerprint(run)
    assert now["updates"] == RECORDED["updates"][run]
    assert now["abs_sums"].keys() == RECORDED["abs_sums"][run].keys()
    for name, value in now["abs_sums"].items():
        assert value == pytest.approx(RECORDED["abs_sums"][run][name], rel=1e-3), name
    recorded_hashes = RECORDED["hashes"].get(kernel_family())
    if recorded_hashes is not None:
        assert now["sha256"] == recorded_hashes[run]
