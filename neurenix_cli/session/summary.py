"""summary.json: the run's status and headline numbers, rewritten as the run goes and when it ends."""

from __future__ import annotations

import os
import time
from typing import Any

from neurenix_cli import runs
from neurenix_cli.numbers import rounded
from neurenix_cli.session.state import RunState, now


class SummaryFile:
    def __init__(self, state: RunState):
        self.state = state

    def write(self, status: str, best_effort: bool = False, **extra: Any) -> dict:
        """Write summary.json and return it. `best_effort` (on the way out of a failure): a write that fails
        too, e.g. on a full disk, must not hide the error that ended the run."""
        state, agent = self.state, self.state.agent
        session = time.monotonic() - state.t0
        summary = {
            "status": status,
            "run_dir": str(state.path),
            "algorithm": state.config["algorithm"],
            "env_id": state.config["env"]["id"],
            "seed": state.config["seed"],
            "total_steps": agent.total_steps,
            "episodes": agent.episodes,
            "wall_s": state.wall_s(),
            "steps_per_s": (agent.total_steps - state.start_steps) / session if session > 0 else 0.0,
            "best_eval": state.best_eval,
            "best_eval_step": state.best_eval_step,
            "final_eval": None,
            "stop_reason": None,
            "error": None,
            "started_at": state.started_at,
            "updated_at": now(),
            "pid": os.getpid(),
        }
        summary = rounded({**summary, **extra})
        try:
            runs.atomic_write_json(state.path / runs.SUMMARY_NAME, summary)
        except OSError:
            if not best_effort:
                raise
        return summary
