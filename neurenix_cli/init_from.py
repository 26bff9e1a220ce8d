"""`neurenix train CONFIG --init-from SOURCE`: a new run that starts from the weights of another run's checkpoint.

What is carried is what the source agent has learned (`agent.learned_parts()`): every network, target networks
included, and the observation and reward normalisation statistics it has (any algorithm), because the weights
were fitted to inputs scaled by them (RL Zoo's `-i` loads VecNormalize's statistics with the model for the same
reason). What is not carried is how far the source's training got: optimizer moments, step, episode and update
counters, RNG, exploration schedule and replay buffer. The new run has its own seed, budget, learning rates and
schedules, and starts them as any new run does; Adam's moments, fitted to another run's gradients at another
learning rate, would be that run's state, not the new one's. (SB3's `load` also restores the optimizer: a run
that should go on with everything is continued with `--resume`.) SAC's temperature is the new config's `alpha`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from neurenix.checkpoint import flatten_state
from neurenix.errors import ConfigError
from neurenix.rl.spaces import to_spec
from neurenix_cli.config import plain
from neurenix_cli.config.messages import inline
from neurenix_cli.numbers import thousands

INIT_FROM_NAME = "init_from.json"  # in the new run's directory: where its first weights came from


@dataclasses.dataclass(frozen=True)
class InitialWeights:
    """The agent of the checkpoint a new run starts from."""

    checkpoint: Path
    source: Any

    def describe(self) -> str:
        return f"the weights of {self.checkpoint} (step {thousands(self.source.total_steps)})"

    def record(self) -> dict:
        """What init_from.json says: the checkpoint, how far its run had trained, and what was carried."""
        return {
            "checkpoint": str(self.checkpoint.resolve()),
            "algorithm": self.source.algorithm,
            "source_steps": self.source.total_steps,
            "carried": list(self.source.learned_parts()),
        }

    def check(self, agent: Any) -> None:
        """Raise ConfigError (exit 2), naming the first layer or shape that differs, unless `agent`, which the
        new run's config built, has the networks these weights belong to."""
        problem = self._mismatch(agent)
        if problem:
            raise ConfigError(
                f"--init-from {self.checkpoint}: the config does not build the networks these weights belong "
                f"to: {problem}{self._differences(agent)}. Start from the config.yaml of the run they come "
                "from and change only what does not shape the networks (learning rates, exploration, budget)."
            )

    def carry_into(self, agent: Any) -> None:
        """Copy the learned parts into `agent` (after `check`)."""
        self.check(agent)
        state, learned = agent.state_dict(), self.source.state_dict()
        for name in self.source.learned_parts():
            state[name] = learned[name]
        agent.load_state_dict(state)

    def _mismatch(self, agent: Any) -> str | None:
        source = self.source
        if agent.algorithm != source.algorithm:
            return f"they are {source.algorithm}'s, and the config trains {agent.algorithm}"
        for label in ("observation", "action"):
            theirs = plain(to_spec(getattr(source, f"{label}_space")))
            ours = plain(to_spec(getattr(agent, f"{label}_space")))
            if theirs != ours:
                return f"the {label} space is {inline(theirs)} in the weights, {inline(ours)} in the config"
        parts = source.learned_parts()
        if agent.learned_parts() != parts:
            return (
                f"they hold {', '.join(parts)}, and the config's agent has {', '.join(agent.learned_parts())}"
            )
        source_state, agent_state = source.state_dict(), agent.state_dict()
        theirs, _ = flatten_state({name: source_state[name] for name in parts})
        ours, _ = flatten_state({name: agent_state[name] for name in parts})
        for key in [*theirs, *(key for key in ours if key not in theirs)]:
            if key not in ours or key not in theirs:
                return f"{key} is only in the {'weights' if key not in ours else 'config'}"
            if theirs[key].shape != ours[key].shape:
                return f"{key} has shape {theirs[key].shape} in the weights, {ours[key].shape} in the config"
        for (
            name
        ) in parts:  # the same shapes between other layers (another activation) compute another function
            network, built = getattr(source, name), getattr(agent, name)
            # A network (a Module, named by its layers) rather than normalisation statistics or a log-std.
            if hasattr(network, "named_parameters") and repr(network) != repr(built):
                return f"{name} is {network!r} in the weights, {built!r} in the config"
        return None

    def _differences(self, agent: Any) -> str:
        """The hyperparameters that differ, for the message: the ones that shape the networks are among them."""
        if agent.algorithm != self.source.algorithm:
            return ""  # another algorithm's settings are not comparable one by one
        theirs, ours = self.source.hyperparameters(), agent.hyperparameters()
        differing = [key for key in theirs if key in ours and theirs[key] != ours[key]]
        if not differing:
            return ""
        shown = "; ".join(
            f"agent.{key}: {plain(theirs[key])!r} for the weights, {plain(ours[key])!r} in the config"
            for key in differing[:4]
        )
        return f" (settings that differ: {shown})"
