"""Reading a config: YAML errors, `--set` overrides and `--seed`, each reported at the key and override."""

from __future__ import annotations

import pytest
from clitools import write_config

from neurenix_cli.config import apply_overrides, load_config


@pytest.mark.parametrize(
    ("override", "key_path", "words"),
    [
        ("agent.learning_rat=0.1", "agent.learning_rat", ["--set agent.learning_rat=0.1", "learning_rate"]),
        ("train.total_steps=lots", "train.total_steps", ["expects an integer or null"]),
        ("agent.hidden_dims.x=1", "agent.hidden_dims.x", ["is [16, 16] (a list), not a mapping"]),
    ],
)
def test_bad_override_names_the_override(cli, tiny_config, override, key_path, words):
    result = cli("train", tiny_config, "--set", override)
    assert result.exit_code == 2
    assert f"{tiny_config}: {key_path}" in result.stderr
    for word in words:
        assert word in result.stderr


@pytest.mark.parametrize("text", ["no-equals-sign", "=3", "agent..x=1"])
def test_malformed_override_is_a_usage_error(cli, tiny_config, text):
    result = cli("train", tiny_config, "--set", text)
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.stderr


def test_yaml_syntax_error_gives_line_and_column(cli, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("algorithm: dqn\nenv:\n  id: [CartPole-v1\n")
    result = cli("train", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}: is not valid YAML at line")


def test_missing_file_and_non_mapping_document(cli, tmp_path):
    assert cli("train", tmp_path / "nope.yaml").exit_code == 2
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    result = cli("train", tmp_path / "list.yaml")
    assert result.exit_code == 2 and "mapping at the top level" in result.stderr


def test_overrides_are_dotted_and_yaml_typed():
    raw, origins = apply_overrides(
        {"agent": {"a": 1}},
        [
            "agent.b=[1, 2]",
            "agent.c=true",
            "agent.d=null",
            "train.total_steps=1000",
            "agent.e=text",
            "agent.f=",
        ],
    )
    assert raw == {
        "agent": {"a": 1, "b": [1, 2], "c": True, "d": None, "e": "text", "f": None},
        "train": {"total_steps": 1000},
    }
    assert origins["agent.b"] == "agent.b=[1, 2]"


def test_seed_argument_overrides_the_file(tmp_path):
    assert load_config(write_config(tmp_path), seed=42)["seed"] == 42


@pytest.mark.parametrize(
    ("text", "key_path", "lines"),
    [
        (
            "algorithm: dqn\nenv: {id: CartPole-v1}\nagent:\n  learning_rate: 0.001\n  batch_size: 32\n"
            "  learning_rate: 0.01\n",
            "agent.learning_rate",
            (4, 6),
        ),
        (
            "algorithm: dqn\nenv: {id: CartPole-v1}\ntrain:\n  total_steps: 600\nagent: {}\ntrain:\n"
            "  max_steps: 100\n",
            "train",
            (3, 6),
        ),
    ],
    ids=["agent.learning_rate", "train"],
)
def test_a_key_given_twice_names_it_and_both_lines(cli, tmp_path, text, key_path, lines):
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    result = cli("train", path, "--check")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {path}: {key_path}: appears twice, at lines {lines[0]} and {lines[1]};"
    )
    assert "Traceback" not in result.stderr


def test_a_key_given_twice_in_a_set_value_names_the_override(cli, tiny_config):
    override = "agent={learning_rate: 0.1, learning_rate: 0.2}"
    result = cli("train", tiny_config, "--set", override, "--check")
    assert result.exit_code == 2
    assert f"{tiny_config}: agent.learning_rate (set by --set {override}): appears twice" in result.stderr


def test_merge_keys_may_override_what_they_bring():
    raw, _ = apply_overrides({}, ["agent={<<: {learning_rate: 0.1, batch_size: 8}, learning_rate: 0.2}"])
    assert raw["agent"] == {"learning_rate": 0.2, "batch_size": 8}
