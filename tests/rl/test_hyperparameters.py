"""Each algorithm's hyperparameters, declared once as a record: the constructor, the checks, `hyperparameters()`
and the signature all come from it."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from neurenix.errors import ConfigError
from neurenix.rl import registry
from neurenix.rl.algorithms.ddpg import DDPGHyperparameters
from neurenix.rl.algorithms.td3 import TD3Hyperparameters

CARTPOLE = ({"type": "box", "shape": (4,)}, {"type": "discrete", "n": 2})
PENDULUM = ({"type": "box", "shape": (3,)}, {"type": "box", "shape": (1,), "low": [-2.0], "high": [2.0]})


def spaces(cls: type) -> tuple[dict, dict]:
    return CARTPOLE if "discrete" in cls.action_space_types else PENDULUM


@pytest.mark.parametrize("name", registry.names())
def test_the_signature_and_hyperparameters_are_the_record(name):
    cls = registry.get(name)
    fields = cls.Hyperparameters.declared()
    parameters = inspect.signature(cls).parameters
    assert list(parameters) == ["observation_space", "action_space", "seed", *(f.name for f in fields)]
    assert all(parameters[f.name].default == f.default for f in fields)
    agent = cls(*spaces(cls), seed=0)
    assert agent.hyperparameters() == agent.hparams.as_dict()
    assert list(agent.hyperparameters()) == [f.name for f in fields]
    assert all(f.spec.doc.strip() for f in fields), "every hyperparameter is documented"


@pytest.mark.parametrize("name", registry.names())
def test_hyperparameters_round_trip_through_the_constructor(name):
    cls = registry.get(name)
    agent = cls(*spaces(cls), seed=0, gamma=0.9, name="mine")
    assert agent.gamma == 0.9 and agent.name == "mine"
    again = cls(*spaces(cls), seed=0, **agent.hyperparameters())
    assert again.hyperparameters() == agent.hyperparameters()


def test_td3_extends_ddpg_and_changes_only_what_it_adds():
    assert issubclass(TD3Hyperparameters, DDPGHyperparameters)
    ddpg = {f.name: f.default for f in DDPGHyperparameters.declared()}
    td3 = {f.name: f.default for f in TD3Hyperparameters.declared()}
    assert set(td3) - set(ddpg) == {"policy_delay", "target_policy_noise", "target_noise_clip"}
    assert {k for k in ddpg if ddpg[k] != td3[k]} == {"name"}


@pytest.mark.parametrize(
    ("name", "key", "value", "words"),
    [
        ("dqn", "learning_rate", 0.0, "(0.0, 1.0]"),
        ("dqn", "hidden_dims", [0], "list of positive integers"),
        ("dqn", "loss", "l1", "'huber', 'mse'"),
        ("dqn", "double_q", 1, "true or false"),
        ("dqn", "batch_size", 0, "integer >= 1"),
        ("dqn", "exploration_fraction", 1.5, "(0.0, 1.0]"),
        ("sac", "target_entropy", "high", "a number or 'auto'"),
        ("td3", "policy_delay", 0, "integer >= 1"),
        ("ppo", "clip_schedule", "cosine", "'constant', 'linear'"),
        ("a2c", "std", -1.0, "(0.0, inf]"),
    ],
)
def test_a_bad_value_is_a_config_error_that_names_its_key(name, key, value, words):
    cls = registry.get(name)
    with pytest.raises(ConfigError) as caught:
        cls(*spaces(cls), **{key: value})
    assert caught.value.key == key
    assert str(caught.value).startswith(key) and words in str(caught.value)


def test_an_unknown_hyperparameter_names_itself_and_the_closest_one():
    cls = registry.get("dqn")
    with pytest.raises(
        ConfigError, match="DQN has no hyperparameter 'lerning_rate'. Did you mean 'learning_rate'"
    ):
        cls(*CARTPOLE, lerning_rate=0.1)


def test_the_record_is_frozen_and_optional_fields_take_none():
    cls = registry.get("dqn")
    agent = cls(*CARTPOLE, exploration_fraction=None, max_grad_norm=None)
    assert agent.hparams.max_grad_norm is None and agent.exploration_fraction is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        agent.hparams.gamma = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    "name",
    [n for n in registry.names() if "buffer_size" in registry.get(n).Hyperparameters.__dataclass_fields__],
)
def test_a_batch_larger_than_the_replay_buffer_is_refused(name):
    """Such an agent never samples a minibatch: its run would "complete" without one gradient step."""
    cls = registry.get(name)
    with pytest.raises(ConfigError, match=r"batch_size \(65\) is larger than buffer_size \(64\)") as caught:
        cls(*spaces(cls), buffer_size=64, batch_size=65)
    assert caught.value.key == "batch_size"
    assert cls(*spaces(cls), buffer_size=64, batch_size=64).batch_size == 64
