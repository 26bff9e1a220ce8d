"""Config fuzzing through the real CLI: whatever YAML document and `--set` values a user (or a script gone
wrong) hands `neurenix train --check`, the answer is exit 0 with the resolved config, or exit 2 with a message;
never a traceback, a hang, another exit code, or a file written.

Documents are grown from configs/dqn_cartpole.yaml: its real keys with values of the wrong type, unknown keys,
nested junk, deleted sections, or not a mapping at all, plus hand-written hostile YAML (alias bombs,
self-referring aliases, deep nesting, invalid UTF-8).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from reltools import NEURENIX
from typer.testing import CliRunner

from neurenix_cli.main import app

BASE = yaml.safe_load((Path(__file__).resolve().parents[2] / "configs" / "dqn_cartpole.yaml").read_text())
KEYS = [
    "algorithm",
    "seed",
    "env",
    "env.id",
    "env.n_envs",
    "env.kwargs",
    "env.kwargs.sutton_barto_reward",
    "spaces",
    "spaces.observation",
    "spaces.action",
    "spaces.action.n",
    "agent",
    *(f"agent.{key}" for key in BASE["agent"]),
    "agent.double_q",
    "agent.loss",
    "agent.max_grad_norm",
    "train",
    *(f"train.{key}" for key in BASE["train"]),
    "train.episodes",
    "train.target_reward",
    "train.save_replay_buffer",
    "train.log_every",
    "versions",
    "agent.learning_rat",
    "nope",
    "env.nope.deeper",
]
# Sizes stay small or absurd: a plausible-but-huge network (say 20000 wide) would really be allocated.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([-1, 0, 1, 2, 3, 7, 64, 10**12, 2**70]),
    st.sampled_from([0.0, -0.0, 0.5, 1e-3, 0.99, 1.5, 1e308, float("inf"), float("-inf"), float("nan")]),
    st.sampled_from(
        ["dqn", "DQN", "ppo", "sac", "CartPole-v1", "Pendulum-v1", "NoSuchEnv-v0", "ALE/Pong-v5"]
    ),
    st.sampled_from(
        ["", "1e-3", "huber", "mse", "box", "discrete", "null", "[", "{", "'", "~", "-", "=", "."]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=4),
    ),
    max_leaves=12,
)
SET_TEXTS = st.one_of(
    st.sampled_from(
        ["null", "true", "0", "-5", "1e-3", "[32, 32]", "[]", "{}", "{a: 1}", "[", "&a [*a]", "x"]
    ),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
)


def set_path(doc: dict, dotted: str, value: object) -> None:
    node = doc
    *parents, leaf = dotted.split(".")
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[leaf] = value


@st.composite
def documents(draw) -> bytes:
    """The bytes of a config file: the shipped DQN config with changes, or something else entirely."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "random", "text", "bytes"]))
    if kind == "text":
        return draw(st.text(max_size=80)).encode("utf-8", "surrogatepass")
    if kind == "bytes":
        return draw(st.binary(max_size=80))
    if kind == "random":
        return yaml.safe_dump(draw(VALUES), allow_unicode=True).encode("utf-8", "surrogatepass")
    doc = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in draw(st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=4)):
        set_path(doc, key, value)
    for section in draw(
        st.lists(st.sampled_from(["agent", "train", "env", "seed", "algorithm"]), max_size=2)
    ):
        doc.pop(section, None)
    return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8", "surrogatepass")


def check(tmp_path: Path, document: bytes, overrides: list[tuple[str, str]]) -> int:
    config = tmp_path / "fuzzed.yaml"
    config.write_bytes(document)
    root = tmp_path / "runs"
    args = ["train", str(config), "--check", "--runs-root", str(root)]
    for key, text in overrides:
        args += ["--set", f"{key}={text}"]
    result = CliRunner().invoke(app, args)
    output = result.stdout + result.stderr
    assert result.exit_code in (0, 2), (result.exit_code, output, result.exception)
    assert "Traceback" not in output and not isinstance(result.exception, AssertionError)
    if result.exit_code == 0:
        resolved = yaml.safe_load(result.stdout)
        assert resolved["algorithm"] and resolved["env"]["id"] and resolved["train"]
    else:
        assert result.stderr.strip(), "a refusal says why"
    assert not root.exists(), "--check writes nothing"
    return result.exit_code


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(documents(), st.lists(st.tuples(st.sampled_from(KEYS), SET_TEXTS), max_size=3))
@example(yaml.safe_dump(BASE).encode(), [])
@example(yaml.safe_dump(BASE).encode(), [("agent.hidden_dims", "[8]"), ("seed", "7")])
def test_fuzzed_configs_exit_0_or_2_and_never_crash(tmp_path, document, overrides):
    event(f"exit {check(tmp_path, document, overrides)}")  # --hypothesis-show-statistics: how many pass


def bomb(target: str) -> bytes:
    """A "billion laughs" document: nine aliases of nine aliases ... (9**9 strings once expanded)."""
    lines = ["versions:", '  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"  {name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return ("\n".join(lines) + f"\nalgorithm: dqn\nenv: {{id: CartPole-v1}}\n{target}\n").encode()


@pytest.mark.parametrize(
    "document",
    [
        bomb("seed: *i"),
        bomb("agent: {hidden_dims: *i}"),
        bomb("env2: *i"),
        b"algorithm: dqn\nenv: {id: CartPole-v1}\nagent: &a {hidden_dims: *a}\n",
        b"algorithm: dqn\nenv: {id: CartPole-v1, kwargs: &k {x: *k}}\n",
        b"algorithm: dqn\nenv: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        b"algorithm: dqn\nenv: {id: CartPole-v1}\nseed: \xff\xfe\n",
        b"algorithm: !!python/object/apply:os.system ['touch pwned']\n",
        b"--- a\n--- b\n",
        b"\x00\x01",
    ],
    ids=[
        "bomb in seed",
        "bomb in hidden_dims",
        "bomb in an unknown key",
        "self-referring agent",
        "self-referring env kwargs",
        "deep nesting",
        "invalid utf-8",
        "python tag",
        "two documents",
        "binary",
    ],
)
def test_hostile_yaml_is_refused_quickly(tmp_path, document):
    """In a real process with a time limit: before the fix, validation never ended on these (walking or even
    printing an alias bomb), or crashed with a RecursionError."""
    config = tmp_path / "hostile.yaml"
    config.write_bytes(document)
    proc = subprocess.run(
        [*NEURENIX, "train", str(config), "--check"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "runs").exists()


def test_a_self_referring_set_value_is_refused(tmp_path):
    check(tmp_path, yaml.safe_dump(BASE).encode(), [("agent.hidden_dims", "&a [1, *a]")])
