"""SB3's names in a Neurenix config: the error names ours, from the one table the importer translates with."""

from __future__ import annotations

from pathlib import Path

import pytest

from neurenix.errors import ConfigError
from neurenix.rl import registry
from neurenix_cli import sb3_names
from neurenix_cli.config import validate
from neurenix_cli.zoo import defaults_table

ENVS = {"a2c": "CartPole-v1", "ppo": "CartPole-v1", "dqn": "CartPole-v1"}


def error_for(algorithm: str, section: str, key: str) -> str:
    config = {
        "algorithm": algorithm,
        "env": {"id": ENVS.get(algorithm, "Pendulum-v1")},
        "train": {"total_steps": 100},
    }
    config.setdefault(section, {})[key] = 1
    with pytest.raises(ConfigError) as caught:
        validate(config)
    return str(caught.value)


@pytest.mark.parametrize(
    ("algorithm", "section", "key", "ours"),
    [
        ("ppo", "agent", "clip_range", "agent.clip_ratio"),
        ("ppo", "agent", "ent_coef", "agent.entropy_coef"),
        ("a2c", "agent", "vf_coef", "agent.value_coef"),
        ("dqn", "agent", "net_arch", "agent.hidden_dims"),
        ("sac", "agent", "net_arch", "agent.actor_hidden_dims and agent.critic_hidden_dims"),
        ("dqn", "agent", "target_update_interval", "agent.update_target_every"),
        ("dqn", "agent", "exploration_final_eps", "agent.epsilon_end"),
        ("td3", "agent", "noise_std", "agent.exploration_noise"),
        ("dqn", "agent", "n_timesteps", "train.total_steps"),
        ("ppo", "train", "n_timesteps", "train.total_steps"),
        ("sac", "env", "env_kwargs", "env.kwargs"),
    ],
)
def test_an_sb3_name_gets_ours(algorithm, section, key, ours):
    message = error_for(algorithm, section, key)
    assert f"{section}.{key}: unknown key. SB3's {key} is {ours} here." in message


def test_every_name_in_the_table_exists_in_its_algorithms():
    # A renamed hyperparameter must not leave the table pointing at a key that is gone.
    for row in sb3_names.RENAMES:
        for algorithm in row.algorithms:
            fields = {field.name for field in registry.get(algorithm).Hyperparameters.declared()}
            for path in row.ours:
                section, name = path.split(".", 1)
                if section == "agent":
                    assert name in fields, (row.sb3, algorithm, path)
                else:
                    from neurenix_cli.config.validation import ENV_KEYS, TRAIN_SCHEMA

                    assert name in {"env": ENV_KEYS, "train": TRAIN_SCHEMA}[section], path


def test_a_plain_typo_still_gets_the_nearest_key():
    assert "Did you mean 'clip_ratio'" in error_for("ppo", "agent", "clip_rato")


def test_the_readme_shows_the_tables_the_code_uses():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert sb3_names.markdown_table() in readme
    assert defaults_table() in readme
