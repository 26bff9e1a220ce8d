"""Config files and --set: every bad config exits 2 naming the file, the key path and the fix, before any run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from clitools import TINY, run_cli, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurenix.errors import ConfigError
from neurenix_cli.config import load_config, validate

CONFIGS_DIR = Path(__file__).resolve().parents[3] / "configs"


def with_(path: str, value, base: dict | None = None) -> dict:
    data = copy.deepcopy(base if base is not None else TINY)
    node = data
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


TINY_PPO = {
    "algorithm": "ppo",
    "env": {"id": "CartPole-v1", "n_envs": 4},
    "agent": {"actor_hidden_dims": [16], "critic_hidden_dims": [16], "n_steps": 64, "batch_size": 64},
    "train": {"total_steps": 256, "eval_episodes": 0},
}

# (config, key path the message must name, words of the problem or fix it must contain)


BAD_CONFIGS = {
    "unknown agent key": (
        with_("agent.learning_rat", 0.1),
        "agent.learning_rat",
        ["Did you mean 'learning_rate'"],
    ),
    "unknown top-level key": (with_("trian", {}), "trian", ["Did you mean 'train'"]),
    "unknown train key": (with_("train.total_step", 5), "train.total_step", ["Did you mean 'total_steps'"]),
    "unknown env key": (with_("env.ids", "x"), "env.ids", ["Did you mean 'id'"]),
    "wrong type": (
        with_("agent.learning_rate", "fast"),
        "agent.learning_rate",
        ["expects a number", "'fast'"],
    ),
    "bool for an int": (with_("agent.batch_size", True), "agent.batch_size", ["expects an integer"]),
    "fraction for an int": (with_("train.total_steps", 10.5), "train.total_steps", ["expects an integer"]),
    "list of wrong items": (with_("agent.hidden_dims", ["a"]), "agent.hidden_dims", ["list of integers"]),
    "out of range (algorithm's check)": (
        with_("agent.learning_rate", -1),
        "agent.learning_rate",
        ["rejected by dqn", "learning_rate must be in"],
    ),
    "out of range (budget)": (with_("train.total_steps", 0), "train.total_steps", ["at least 1"]),
    "negative seed": (with_("seed", -3), "seed", ["at least 0"]),
    "unknown algorithm": (with_("algorithm", "dqm"), "algorithm", ["Did you mean 'dqn'", "Available: dqn"]),
    "missing algorithm": ({k: v for k, v in TINY.items() if k != "algorithm"}, "algorithm", ["is missing"]),
    "unknown env id": (with_("env.id", "CartPol-v1"), "env.id", ["CartPole-v1"]),
    "bad env kwargs": (with_("env.kwargs", {"wind": 3}), "env.kwargs", ["wind"]),
    "action space the algorithm cannot use": (
        with_("env.id", "Pendulum-v1"),
        "algorithm",
        [
            "dqn cannot take the action space of Pendulum-v1",
            "a box space",
            "dqn takes discrete actions",
            "ddpg, td3, sac, a2c, ppo",
        ],
    ),
    "spaces contradict the env": (
        with_("spaces.action", {"type": "discrete", "n": 3}),
        "spaces.action",
        ["contradicts CartPole-v1", '"n": 2'],
    ),
    "invalid space spec": (
        with_("spaces.observation", {"type": "tree"}),
        "spaces.observation",
        ["not a valid space spec"],
    ),
    "section not a mapping": (with_("agent", [1, 2]), "agent", ["must be a mapping"]),
    "seed under agent": (with_("agent.seed", 3), "agent.seed", ["top-level `seed:`"]),
    "n_envs under agent": (with_("agent.n_envs", 4), "agent.n_envs", ["Set env.n_envs"]),
    "no budget": (with_("train.total_steps", None), "train.total_steps", ["no training budget"]),
    # Configs that used to "complete" having trained nothing.
    "minibatch above the replay buffer": (
        with_("agent.batch_size", 2001),
        "agent.batch_size",
        ["batch_size (2001) is larger than buffer_size (2000)", "no gradient step", "raise buffer_size"],
    ),
    "in-place replay no larger than one row per env": (
        with_(
            "agent.optimize_memory_usage",
            True,
            with_("agent.buffer_size", 4, with_("agent.batch_size", 4, with_("env.n_envs", 4))),
        ),
        "agent.buffer_size",
        [
            "optimize_memory_usage needs buffer_size (4) above the number of env copies (4)",
            "raise buffer_size",
        ],
    ),
    "step budget below one rollout": (
        with_("train.total_steps", 252, TINY_PPO),
        "train.total_steps",
        ["252 steps is less than one rollout of ppo", "64 x env.n_envs 4 = 256", "at least 256"],
    ),
    "step budget before the first off-policy update": (
        with_("train.total_steps", 99),
        "train.total_steps",
        ["99 steps is before dqn's first update at step 150", "learning_starts 100", "at least 150"],
    ),
    "step budget before the first update of an episode cadence": (
        with_("agent.train_freq_unit", "episode", with_("train.total_steps", 99)),
        "train.total_steps",
        ["99 steps is before dqn's first update, which cannot", "agent.train_freq"],
    ),
    "episode budget whose episodes are cut off before the first update": (
        with_("train.max_steps", 20, with_("train.episodes", 3, with_("train.total_steps", None))),
        "train.episodes",
        [
            "3 episodes of at most 20 steps each end after at most 60 steps",
            "first update at step 150",
            "train.episodes to at least 8",
        ],
    ),
    "episode budget shorter than the env's registered time limit allows": (
        with_(
            "agent.learning_starts",
            5000,
            with_("train.max_steps", None, with_("train.episodes", 4, with_("train.total_steps", None))),
        ),
        "train.episodes",
        ["4 episodes of at most 500 steps each end after at most 2,000 steps", "at least 11"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_config_exits_2_naming_file_key_and_fix(cli, tmp_path, name):
    data, key_path, words = BAD_CONFIGS[name]
    path = write_config(tmp_path, data)
    result = cli("train", path, "--runs-root", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    message = result.stderr
    assert message.startswith(f"error: {path}: {key_path}"), message
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists(), "nothing is created for a config that does not validate"


def test_bad_config_from_a_real_process_exits_2(tmp_path):
    path = write_config(tmp_path, with_("agent.gama", 0.9))
    proc = run_cli("train", path, "--runs-root", tmp_path / "runs")
    assert proc.returncode == 2
    assert "agent.gama" in proc.stderr and "Did you mean 'gamma'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_a_budget_of_exactly_one_rollout_is_accepted(tmp_path):
    assert load_config(write_config(tmp_path, TINY_PPO))["train"]["total_steps"] == 256
    assert load_config(
        write_config(tmp_path, with_("train.total_steps", None, with_("train.episodes", 3, TINY_PPO)))
    )


def test_resolved_config_fills_defaults_and_is_a_fixed_point(tmp_path):
    config = load_config(write_config(tmp_path))
    assert config["agent"]["gamma"] == 0.99 and config["agent"]["loss"] == "huber", "constructor defaults"
    assert config["train"]["target_reward"] is None and config["env"]["kwargs"] == {}
    assert config["spaces"]["observation"]["shape"] == [4]
    assert validate(copy.deepcopy(config)) == config


def test_algorithm_name_is_case_insensitive_and_numbers_may_be_strings(tmp_path):
    # YAML 1.1 reads `1e-3` (no dot) as a string; a number is what the key wants, so it is accepted as one.
    path = tmp_path / "c.yaml"
    path.write_text(
        write_config(tmp_path)
        .read_text()
        .replace("algorithm: dqn", "algorithm: DQN")
        .replace("learning_rate: 0.001", "learning_rate: 1e-3")
    )
    config = load_config(path, ["train.total_steps=1e3"])
    assert config["algorithm"] == "dqn"
    assert config["agent"]["learning_rate"] == 0.001 and config["train"]["total_steps"] == 1000


@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    config = load_config(path)
    assert config["train"]["total_steps"] or config["train"]["episodes"]


KEYS = [
    "algorithm",
    "seed",
    "env.id",
    "env.n_envs",
    "env.kwargs",
    "spaces.action",
    "agent.hidden_dims",
    "agent.learning_rate",
    "agent.gamma",
    "agent.batch_size",
    "agent.double_q",
    "agent.loss",
    "agent.nope",
    "train.total_steps",
    "train.episodes",
    "train.eval_every",
    "train.target_reward",
    "train",
    "agent",
    "x.y",
]


YAML_VALUES = st.one_of(
    st.sampled_from(
        [
            "null",
            "true",
            "0",
            "-1",
            "0.5",
            "1e-3",
            "[]",
            "[1, 2]",
            "{}",
            "{a: 1}",
            "'dqn'",
            "huber",
            "CartPole-v1",
            "[",
            "{type: discrete, n: 2}",
            "999999999999",
            ".nan",
            "-.inf",
        ]
    ),
    st.text(max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(KEYS), YAML_VALUES), max_size=3))
def test_fuzzed_overrides_never_raise_anything_but_a_config_error(tmp_path, overrides):
    path = write_config(tmp_path)
    try:
        load_config(path, [f"{k}={v}" for k, v in overrides])
    except ConfigError as exc:
        assert str(path) in str(exc)


def test_env_n_envs_reaches_algorithms_that_size_storage_by_it(tmp_path):
    import gymnasium as gym

    from neurenix.rl import registry
    from neurenix_cli.config.validation import make_agent

    takers = [
        name
        for name in registry.names()
        if any(field.name == "n_envs" for field in registry.get(name).Hyperparameters.declared())
    ]
    assert sorted(takers) == ["a2c", "ppo"]
    for name in takers:
        config = load_config(
            write_config(
                tmp_path,
                {
                    "algorithm": name,
                    "env": {"id": "CartPole-v1", "n_envs": 3},
                    "train": {"total_steps": 10_000},
                },
            )
        )
        assert "n_envs" not in config["agent"], "set in one place: env.n_envs"
        agent = make_agent(config, gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(2))
        assert agent.n_envs == 3, name


def test_a_library_error_that_carries_its_key_is_placed_at_that_key_whatever_its_text(tmp_path, monkeypatch):
    from neurenix.rl import registry
    from neurenix.rl.algorithms.dqn import DQN

    class PickyDQN(DQN):
        def __init__(self, observation_space, action_space, *, seed=None, **hyperparameters):
            raise ConfigError("too few units for this environment", key="hidden_dims")

    monkeypatch.setitem(registry.ALGORITHMS, "picky", PickyDQN)
    config = with_("agent", {}, with_("algorithm", "picky"))
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, config), ["agent.hidden_dims=[2]"])
    where = (
        f"{tmp_path / 'tiny.yaml'}: agent.hidden_dims (set by --set agent.hidden_dims=[2]): rejected by picky"
    )
    assert str(caught.value).startswith(where)
    assert caught.value.key == "agent.hidden_dims"
