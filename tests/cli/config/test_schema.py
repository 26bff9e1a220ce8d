"""`neurenix schema`: a JSON Schema that accepts every shipped config and what validation resolves, offers each
algorithm's own constructor arguments under `agent:`, and rejects what validation rejects."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from neurenix.errors import ConfigError
from neurenix.rl import registry
from neurenix_cli.config import agent_parameters, validate

CONFIGS = sorted((Path(__file__).parents[3] / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema():
    from typer.testing import CliRunner

    from neurenix_cli.main import app

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(data)
    return data


def errors(schema: dict, config: dict) -> list[str]:
    return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(config)]


def test_configs_are_shipped():
    assert CONFIGS, "configs/ holds the tuned configs"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_and_its_resolved_form_validate(schema, path):
    raw = yaml.safe_load(path.read_text())
    assert errors(schema, raw) == []
    resolved = validate(copy.deepcopy(raw), source=str(path))
    assert errors(schema, resolved) == [], "defaults filled in and spaces derived: still valid"


@pytest.mark.parametrize("name", registry.names())
def test_agent_keys_are_the_constructors(schema, name):
    def applies(rule: dict, algorithm: str) -> bool:
        return re.fullmatch(rule["if"]["properties"]["algorithm"]["pattern"], algorithm) is not None

    [rule] = [r for r in schema["allOf"] if applies(r, name)]
    assert applies(rule, name.upper())
    agent = rule["then"]["properties"]["agent"]
    assert set(agent["properties"]) == set(agent_parameters(registry.get(name)))
    assert agent["additionalProperties"] is False


DQN = {
    "algorithm": "dqn",
    "env": {"id": "CartPole-v1"},
    "agent": {"hidden_dims": [16], "learning_rate": 0.001},
    "train": {"total_steps": 1000},
}
BROKEN = {
    "unknown agent key": ("agent", {"hidden_dims": [16], "learning_rat": 0.001}),
    "another algorithm's key": ("agent", {"n_steps": 5}),
    "wrong type": ("agent", {"hidden_dims": "big"}),
    "wrong item type": ("agent", {"hidden_dims": [16, "x"]}),
    "out of bounds": ("agent", {"learning_rate": 0.0}),
    "not a choice": ("agent", {"loss": "l1"}),
    "zero-width hidden layer": ("agent", {"hidden_dims": [16, 0]}),
    "unknown top key": ("agnet", {}),
    "unknown algorithm": ("algorithm", "dqm"),
    "no budget": ("train", {"max_steps": 100}),
    "null budget": ("train", {"total_steps": None}),
    "below minimum": ("train", {"total_steps": 0}),
    "unknown train key": ("train", {"total_steps": 10, "totl_steps": 10}),
    "env without id": ("env", {"n_envs": 2}),
    "bad space type": ("spaces", {"action": {"type": "multi"}}),
}


def test_a_good_config_passes_and_case_does_not_matter(schema):
    assert errors(schema, DQN) == []
    assert errors(schema, {**DQN, "algorithm": "DQN"}) == []
    assert errors(schema, {**DQN, "agent": None}) == []


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_schema_rejects_what_validation_rejects(schema, case):
    key, value = BROKEN[case]
    broken = {**DQN, key: value}
    assert errors(schema, broken), f"{case} should be rejected"
    with pytest.raises(ConfigError):
        validate(copy.deepcopy(broken))


def test_each_agent_key_carries_its_record_documentation_and_default(schema):
    from neurenix.rl.algorithms.dqn import DQNHyperparameters

    [rule] = [
        r for r in schema["allOf"] if re.fullmatch(r["if"]["properties"]["algorithm"]["pattern"], "dqn")
    ]
    decay = rule["then"]["properties"]["agent"]["properties"]["epsilon_decay"]
    field = {f.name: f for f in DQNHyperparameters.declared()}["epsilon_decay"]
    assert decay["description"].startswith(field.spec.doc) and "per env step" in decay["description"]
    assert decay["default"] == 0.995 and decay["exclusiveMinimum"] == 0.0 and decay["maximum"] == 1.0


def test_an_agent_key_of_one_algorithm_is_valid_for_its_own(schema):
    ppo = {**DQN, "algorithm": "ppo", "agent": {"n_steps": 16}}
    if "ppo" not in registry.names():
        pytest.skip("PPO is not registered")
    assert errors(schema, ppo) == []
