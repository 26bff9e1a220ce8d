"""YAML config -> validated, fully resolved plain data.

The `agent:` section maps 1:1 onto the algorithm's hyperparameter record (`neurenix.rl.hyperparameters`): its
keys, types, defaults, documentation and bounds are read from there, so a new hyperparameter is configurable,
checked and in the schema without touching this package.

    algorithm: dqn                       # registry name, case-insensitive
    seed: 0
    env: {id: CartPole-v1, n_envs: 1, kwargs: {}}
    spaces: {observation: {...}, action: {...}}   # optional: derived from the env, checked against it if given
    agent: {hidden_dims: [64, 64], ...}  # the algorithm's hyperparameters
    train: {total_steps: 50000, episodes: null, max_steps: 500, eval_every: 5000, eval_episodes: 10,
            checkpoint_every: 10000, target_reward: null, log_every: 1000}

reading.py reads the YAML and applies `--set`/`--seed`, validation.py checks every key and builds the agent,
types.py is the small type system the checks and the schema share, schema.py writes the JSON Schema, and
messages.py the errors.
"""

from neurenix_cli.config.messages import ConfigFileError
from neurenix_cli.config.reading import (
    apply_overrides,
    dump_yaml,
    load_config,
    load_prepared,
    read_yaml,
    versions,
)
from neurenix_cli.config.schema import json_schema
from neurenix_cli.config.types import coerce, plain
from neurenix_cli.config.validation import Prepared, agent_parameters, make_agent, prepare, validate

__all__ = [
    "ConfigFileError",
    "Prepared",
    "agent_parameters",
    "apply_overrides",
    "coerce",
    "dump_yaml",
    "json_schema",
    "load_config",
    "load_prepared",
    "make_agent",
    "plain",
    "prepare",
    "read_yaml",
    "validate",
    "versions",
]
