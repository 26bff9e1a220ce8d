"""Damaged, mismatched and hostile checkpoints at `neurenix eval` and `neurenix train --resume`.

Every case must fail with exit 1 and one paragraph on stderr that names the checkpoint, never a traceback, and
must leave every file of the run exactly as it was. Loading must never unpickle: a payload that would create a
file when unpickled must leave no file. Below the CLI, random single-bit flips anywhere in either file of a
checkpoint must be refused or be harmless (the loaded agent equals the saved one).
"""

from __future__ import annotations

import json
import pickle
import random
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from neurenix.checkpoint import META_FILE, load_checkpoint, meta_checksum
from neurenix.errors import CheckpointError
from neurenix.rl import load_agent
from neurenix_cli import experiment
from neurenix_cli.config import load_config
from neurenix_cli.main import app

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHORT = [
    "train.total_steps=400",
    "train.episodes=null",
    "train.eval_every=200",
    "train.eval_episodes=1",
    "train.max_steps=50",
    "train.checkpoint_every=200",
]


def train_short(config: str, run: Path, *extra: str) -> Path:
    experiment.train(load_config(CONFIGS / config, [*SHORT, *extra]), run)
    return run


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> dict[str, Path]:
    """A finished DQN CartPole run (with an eval.json), and runs of other algorithms to swap files with."""
    root = tmp_path_factory.mktemp("corruption")
    made = {
        "dqn": train_short(
            "dqn_cartpole.yaml",
            root / "dqn",
            "agent.hidden_dims=[16,16]",
            "agent.learning_starts=100",
            "train.save_replay_buffer=true",
        ),
        # Another algorithm on other spaces (box actions), and another algorithm on the same spaces.
        "pendulum": train_short("ppo_pendulum.yaml", root / "pendulum", "env.n_envs=2", "agent.n_steps=50"),
        "ppo": train_short("ppo_cartpole.yaml", root / "ppo", "env.n_envs=2", "agent.n_steps=50"),
    }
    experiment.evaluate(made["dqn"], episodes=1)
    return made


# ----------------------------------------------------------------------------------------------------- damage
def flip(path: Path, at: float = 0.5, mask: int = 0xFF) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= mask
    path.write_bytes(bytes(data))


def rewrite_meta(ckpt: Path, change: Callable[[dict], None]) -> None:
    """Edit meta.json and re-seal it, as a crafted (not corrupted) file would be: the checksum matches, so
    only the type checks can refuse it."""
    meta = json.loads((ckpt / META_FILE).read_text())
    meta.pop("meta_sha256", None)
    change(meta)
    meta["meta_sha256"] = meta_checksum(meta)
    (ckpt / META_FILE).write_text(json.dumps(meta))


class Exploit:
    """Unpickling this creates the file `marker`: proof that a loader ran code from the file."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def object_array_npz(ckpt: Path, marker: Path) -> None:
    arrays, _ = load_checkpoint(ckpt)
    Exploit.marker = marker
    payload = np.empty(1, dtype=object)
    payload[0] = Exploit()
    arrays[next(iter(arrays))] = payload
    np.savez(ckpt / "arrays.npz", **arrays)


def pickle_file(path: Path, marker: Path) -> None:
    Exploit.marker = marker
    path.write_bytes(pickle.dumps(Exploit()))


@dataclass
class Context:
    runs: dict[str, Path]  # the fixture's finished runs, by algorithm
    marker: Path  # the file an executed pickle payload would create

    def last(self, name: str) -> Path:
        return self.runs[name] / "checkpoints" / "last"


Damage = Callable[[Path, Context], object]


def replace_with(name: str) -> Damage:
    def damage(ckpt: Path, ctx: Context) -> None:
        shutil.rmtree(ckpt)
        shutil.copytree(ctx.last(name), ckpt)

    return damage


def copy_from(name: str, file: str, checkpoint: str = "last") -> Damage:
    def damage(ckpt: Path, ctx: Context) -> None:
        source = ctx.last(name).parent / checkpoint / file
        shutil.copy(source, ckpt / file)

    return damage


def edit_meta_text(old: str, new: str) -> Damage:
    def damage(ckpt: Path, ctx: Context) -> None:
        text = (ckpt / META_FILE).read_text()
        assert old in text
        (ckpt / META_FILE).write_text(text.replace(old, new, 1))

    return damage


def crafted(dotted: str, value: object) -> Damage:
    """meta.json with `dotted` set to `value` (or to `value(meta)` when callable), re-sealed."""

    def change(meta: dict) -> None:
        node = meta
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        node[leaf] = value(meta) if callable(value) else value

    return lambda ckpt, ctx: rewrite_meta(ckpt, change)


def _strings(meta: dict) -> dict:
    return {key: str(value) for key, value in meta["state"]["counters"].items()}


DAMAGES: dict[str, Damage] = {
    "truncated arrays": lambda c, ctx: (c / "arrays.npz").write_bytes((c / "arrays.npz").read_bytes()[:300]),
    "empty arrays": lambda c, ctx: (c / "arrays.npz").write_bytes(b""),
    "flipped byte in arrays": lambda c, ctx: flip(c / "arrays.npz"),
    "flipped byte in the arrays' zip header": lambda c, ctx: flip(c / "arrays.npz", at=0.001),
    "flipped byte in meta": lambda c, ctx: flip(c / META_FILE),
    "flipped bit in a counter": edit_meta_text('"total_steps": 400', '"total_steps": 401'),
    "truncated meta": lambda c, ctx: (c / META_FILE).write_text((c / META_FILE).read_text()[:100]),
    "missing meta": lambda c, ctx: (c / META_FILE).unlink(),
    "missing arrays": lambda c, ctx: (c / "arrays.npz").unlink(),
    "arrays of another algorithm": copy_from("pendulum", "arrays.npz"),
    "meta of another algorithm": copy_from("pendulum", META_FILE),
    "arrays of the best checkpoint": copy_from("dqn", "arrays.npz", checkpoint="best"),
    "checkpoint of another algorithm and spaces": replace_with("pendulum"),
    "checkpoint of another algorithm, same spaces": replace_with("ppo"),
    "checkpoint with other hyperparameters": crafted("hyperparameters.gamma", 0.5),
    "object array with a pickle payload": lambda c, ctx: object_array_npz(c, ctx.marker),
    "pickle as arrays.npz": lambda c, ctx: pickle_file(c / "arrays.npz", ctx.marker),
    "pickle as meta.json": lambda c, ctx: pickle_file(c / META_FILE, ctx.marker),
    "hyperparameters a list": crafted("hyperparameters", [1, 2]),
    "format_version a string": crafted("format_version", "1"),
    "future format_version": crafted("format_version", 99),
    "counters as strings": crafted("state.counters", _strings),
    "exploration state a list": crafted("state.exploration", [1]),
    "rng state garbage": crafted("state.rng", {"state": "x"}),
    "hidden_dims a string": crafted("hyperparameters.hidden_dims", "16"),
    "observation space a string": crafted("observation_space", "box"),
    "arrays table a list": crafted("arrays", []),
    "meta a list": lambda c, ctx: (c / META_FILE).write_text("[]"),
}


# ----------------------------------------------------------------------------------------------------- the CLI
def snapshot(run: Path, skip: Path) -> dict[str, bytes]:
    return {
        p.relative_to(run).as_posix(): p.read_bytes()
        for p in sorted(run.rglob("*"))
        if p.is_file() and skip not in p.parents
    }


def assert_clean_failure(result, ckpt: Path) -> None:
    assert result.exit_code == 1, result.output
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n\n" not in message, message
    assert str(ckpt) in message, f"the message names the checkpoint: {message}"
    assert "Traceback" not in result.output + result.stderr
    assert "This is a bug" not in message, message
    assert result.stdout == ""


COMMANDS = {
    "eval": ["eval", "{run}", "--checkpoint", "last", "--json"],
    "resume": ["train", "--resume", "{run}"],
    "resume --check": ["train", "--resume", "{run}", "--check"],  # refuses what the resume would
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_checkpoint_fails_cleanly_and_loses_nothing(runs_dir, tmp_path, case, command):
    run = tmp_path / "run"
    shutil.copytree(runs_dir["dqn"], run)
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    ckpt = run / "checkpoints" / "last"
    ctx = Context(runs_dir, tmp_path / "pwned")
    DAMAGES[case](ckpt, ctx)
    before = snapshot(run, ckpt)

    result = CliRunner().invoke(app, [arg.format(run=run) for arg in COMMANDS[command]])

    assert_clean_failure(result, ckpt)
    assert not ctx.marker.exists(), "loading ran code from the checkpoint"
    assert snapshot(run, ckpt) == before, "a failed load changed the run's files"
    assert not (run / ".lock").exists()


# ----------------------------------------------------------------------------------------------------- bit flips
@pytest.mark.parametrize("file", ["arrays.npz", META_FILE])
def test_any_single_bit_flip_is_refused_or_harmless(runs_dir, tmp_path, file):
    """Flip one bit at 150 seeded random positions: loading raises CheckpointError (nothing else), or returns
    an agent identical to the saved one (a flip in padding or an unread field)."""
    source = runs_dir["dqn"] / "checkpoints" / "last"
    reference_arrays, reference_meta = load_checkpoint(source)
    rng = random.Random(f"bit-flips-{file}")
    size = (source / file).stat().st_size
    ckpt = tmp_path / "ckpt"
    refused = 0
    for _ in range(150):
        shutil.rmtree(ckpt, ignore_errors=True)
        shutil.copytree(source, ckpt)
        flip(ckpt / file, at=rng.randrange(size) / size, mask=1 << rng.randrange(8))
        try:
            agent = load_agent(ckpt)
        except CheckpointError as error:
            assert str(ckpt) in str(error)
            refused += 1
            continue
        arrays, meta = load_checkpoint(ckpt)
        assert meta == reference_meta and arrays.keys() == reference_arrays.keys()
        assert all(np.array_equal(arrays[k], reference_arrays[k]) for k in arrays)
        assert agent.total_steps == 400
    assert refused > 100, "most flips change something that must be detected"
