"""One RL Zoo hyperparameter entry as a Neurenix config (`neurenix zoo import`).

RL Zoo files are YAML whose strings may hold Python expressions (`"dict(net_arch=[64, 64], activation_fn=nn.Tanh)"`).
They are read with `ast` into literals, lists, dict(...) calls and dotted names, and never evaluated: a Zoo file
from the internet must not run code. Every key of the entry is translated (names from `sb3_names`) or refused
with the reason, never dropped; a key the entry leaves out gets SB3's default where ours differs, so the config
trains what the Zoo entry trains.
"""

from __future__ import annotations

import ast
import difflib
import importlib.util
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from neurenix.errors import ConfigError
from neurenix_cli import sb3_names
from neurenix_cli.config.types import coerce, plain

MAX_EXPRESSION = 10_000  # characters; a hyperparameter expression is a line or two

# SB3 2.x's documented defaults, in our names: what an entry that leaves a key out trains with.
# Without `normalize`, RL Zoo wraps no VecNormalize: no normalisation, whatever the algorithm.
_NORMALIZE = {"normalize_observations": False, "normalize_rewards": False}
_OFF_POLICY = {
    "buffer_size": 1_000_000,
    "learning_starts": 100,
    "gamma": 0.99,
    "gradient_steps": 1,
    **_NORMALIZE,
}
_ON_POLICY = {
    "gamma": 0.99,
    "value_coef": 0.5,
    "entropy_coef": 0.0,
    "max_grad_norm": 0.5,
    "actor_hidden_dims": [64, 64],
    "critic_hidden_dims": [64, 64],
    "activation": "tanh",
    "ortho_init": True,
    "log_std_init": 0.0,
    "lr_schedule": "constant",
    **_NORMALIZE,
}
_DDPG = {
    **_OFF_POLICY,
    "actor_learning_rate": 1e-3,
    "critic_learning_rate": 1e-3,
    "batch_size": 256,
    "tau": 0.005,
    "train_freq": 1,
    "actor_hidden_dims": [400, 300],
    "critic_hidden_dims": [400, 300],
    "exploration_noise": 0.0,  # SB3's action_noise=None: no noise unless the entry asks for it
    "noise_type": "gaussian",
}
SB3_DEFAULTS: dict[str, dict[str, Any]] = {
    "dqn": {
        **_OFF_POLICY,
        "learning_rate": 1e-4,
        "batch_size": 32,
        "train_freq": 4,
        "update_target_every": 10_000,
        "exploration_fraction": 0.1,
        "epsilon_start": 1.0,
        "epsilon_end": 0.05,
        "max_grad_norm": 10.0,
        "hidden_dims": [64, 64],
    },
    "ddpg": _DDPG,
    "td3": {**_DDPG, "policy_delay": 2, "target_policy_noise": 0.2, "target_noise_clip": 0.5},
    "sac": {
        **_OFF_POLICY,
        "actor_learning_rate": 3e-4,
        "critic_learning_rate": 3e-4,
        "alpha_learning_rate": 3e-4,
        "batch_size": 256,
        "tau": 0.005,
        "train_freq": 1,
        "actor_hidden_dims": [256, 256],
        "critic_hidden_dims": [256, 256],
        "alpha": 1.0,  # SB3's ent_coef="auto" starts the learned coefficient at 1
        "auto_alpha": True,
        "target_entropy": "auto",
    },
    "a2c": {
        **_ON_POLICY,
        "actor_learning_rate": 7e-4,
        "critic_learning_rate": 7e-4,
        "n_steps": 5,
        "gae_lambda": 1.0,
        "normalize_advantage": False,
        "optimizer": "rmsprop",
    },
    "ppo": {
        **_ON_POLICY,
        "actor_learning_rate": 3e-4,
        "critic_learning_rate": 3e-4,
        "n_steps": 2048,
        "batch_size": 64,
        "n_epochs": 10,
        "gae_lambda": 0.95,
        "clip_ratio": 0.2,
        "clip_schedule": "constant",
        "clip_range_vf": None,
        "normalize_advantage": True,
        "target_kl": None,
        "optimizer": "adam",
    },
}

# Keys with no counterpart here, and why (the error shows the reason).
GSDE_ALGORITHMS = ("sac", "a2c", "ppo")  # SB3's takers of use_sde, and ours
UNSUPPORTED = {
    "vec_env_wrapper": "vectorised-env wrappers",
    "callback": "RL Zoo callbacks (Python classes)",
    "replay_buffer_class": "other replay buffers (HER)",
    "replay_buffer_kwargs": "replay buffer options",
    "optimizer_class": "other optimizers (A2C and PPO take `optimizer: adam|rmsprop|rmsprop_tf`)",
    "optimizer_kwargs": "optimizer options",
    "squash_output": "squashed Gaussian policies for A2C and PPO",
    "features_extractor_class": "other feature extractors (agent.encoder: nature_cnn, small_cnn or mlp)",
}
ACTIVATIONS = {"Tanh": "tanh", "ReLU": "relu", "Sigmoid": "sigmoid", "Identity": "identity"}
# A2C's and PPO's `optimizer_class` (the names RL Zoo's expressions see), ours for it, and the torch defaults of
# its options: ours runs each with these but eps 1e-5 (`actor_critic.OPTIMIZERS`), so an entry's
# `optimizer_kwargs` must come to that.
OPTIMIZER_CLASSES = {
    "RMSpropTFLike": "rmsprop_tf",
    "th.optim.RMSprop": "rmsprop",
    "torch.optim.RMSprop": "rmsprop",
    "th.optim.Adam": "adam",
    "torch.optim.Adam": "adam",
}
_RMSPROP_OPTIONS = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0, "momentum": 0, "centered": False}
TORCH_OPTIONS = {
    "rmsprop_tf": _RMSPROP_OPTIONS,
    "rmsprop": _RMSPROP_OPTIONS,
    "adam": {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0, "amsgrad": False},
}
NOISE_TYPES = {"normal": "gaussian", "ornstein-uhlenbeck": "ornstein_uhlenbeck"}


def activation_reason(name: str, on_policy: bool) -> str:
    if on_policy:
        return f"A2C and PPO take {', '.join(f'nn.{short}' for short in ACTIVATIONS)}, not {name}"
    return f"the off-policy networks are ReLU MLPs, as SB3's, not {name}"


class Symbol(str):
    """A dotted name in an expression (`nn.Tanh`, `RMSpropTFLike`): kept as its text, never looked up."""


def parse_expression(text: str, where: str) -> Any:
    """The value of a Zoo expression string: literals, lists, tuples, `{...}`, `dict(k=v, ...)` and dotted
    names (as Symbol). Anything else (calls, operators, subscripts) is a ConfigError: nothing is evaluated."""
    if len(text) > MAX_EXPRESSION:
        raise ConfigError(
            f"{where}: the expression is {len(text):,} characters long; refused unread.", key=where
        )
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ConfigError(f"{where}: {text!r} is not a Python expression ({exc.msg}).", key=where) from None
    return _value(tree.body, text, where)


def _value(node: ast.AST, text: str, where: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(item, text, where) for item in node.elts]
    if isinstance(node, ast.Dict) and all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys
    ):
        return {k.value: _value(v, text, where) for k, v in zip(node.keys, node.values)}
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
        and all(keyword.arg is not None for keyword in node.keywords)
    ):
        return {keyword.arg: _value(keyword.value, text, where) for keyword in node.keywords}
    dotted = _dotted(node)
    if dotted is not None and "__" not in dotted:
        return Symbol(dotted)
    raise ConfigError(
        f"{where}: refused {text!r}: a Zoo file's expressions may hold only literals, lists, dict(...) calls "
        f"and names such as nn.Tanh, and `{ast.unparse(node)}` is none of these. Nothing in it was run.",
        key=where,
    )


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        parent = _dotted(node.value)
        return None if parent is None else f"{parent}.{node.attr}"
    return None


SB3_ATARI_WRAPPER = "stable_baselines3.common.atari_wrappers.AtariWrapper"
# SB3's AtariWrapper's keyword arguments and their defaults.
ATARI_WRAPPER_DEFAULTS = {
    "noop_max": 30,
    "frame_skip": 4,
    "screen_size": 84,
    "terminal_on_life_loss": True,
    "clip_reward": True,
    "action_repeat_probability": 0.0,
}


def _named_parts(value: Any, path: str = "") -> Iterator[str]:
    """The paths (`func`, `funcs[0]`, `options.f`) at which a parsed argument holds a Python name."""
    if isinstance(value, Symbol):
        yield path
    elif isinstance(value, dict):
        for key, part in value.items():
            yield from _named_parts(part, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, part in enumerate(value):
            yield from _named_parts(part, f"{path}[{i}]")


def is_atari(env_id: str) -> bool:
    """RL Zoo's test: the id is registered with ALE's AtariEnv (ale-py's ids, once it is installed)."""
    import gymnasium as gym

    try:
        import ale_py

        gym.register_envs(ale_py)
    except ImportError:
        return False
    spec = gym.envs.registry.get(env_id)
    return spec is not None and "AtariEnv" in str(spec.entry_point)


def entry_name(data: dict, env_id: str) -> str:
    """Which entry RL Zoo trains `env_id` with: its own, else `atari` for an Atari game, else `default`."""
    if env_id in data:
        return env_id
    if "atari" in data and is_atari(env_id):
        return "atari"
    return "default" if "default" in data else env_id


def read_entry(path: Path, env_id: str) -> tuple[str, dict]:
    """The name and the entry RL Zoo trains `env_id` with in the Zoo file at `path` (`entry_name`); a missing
    file or entry is a ConfigError."""
    from neurenix_cli.config.reading import read_yaml

    if not path.is_file() and not path.is_dir():
        raise ConfigError(
            f"{path}: no such file. Give the path of an RL Zoo file such as hyperparams/ppo.yml."
        )
    data = read_yaml(path)
    name = entry_name(data, env_id)
    if name not in data:
        names = [str(name) for name in data]
        close = difflib.get_close_matches(env_id, names, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
        if "atari" in data and importlib.util.find_spec("ale_py") is None:
            hint += (
                " RL Zoo trains Atari games with its `atari` entry, and ale-py, which registers their ids, is not "
                "installed: pip install 'neurenix[atari]'."
            )
        shown = ", ".join(names[:40]) + (", ..." if len(names) > 40 else "")
        raise ConfigError(f"{path} has no entry {env_id!r}.{hint} Its entries: {shown}.")
    entry = data[name]
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: entry {name!r} is not a mapping of hyperparameters.")
    return name, entry


def algorithm_of(path: Path, algo: str | None) -> str:
    """`--algo`, else the file's name (ppo.yml -> ppo)."""
    name = (algo if algo is not None else path.stem).lower()
    if name not in sb3_names.ALGORITHMS:
        given = f"--algo {algo}" if algo is not None else f"the file name {path.name}"
        raise ConfigError(
            f"{given} names no algorithm Neurenix imports; it imports {', '.join(sb3_names.ALGORITHMS)}. "
            "Pass --algo NAME for a file whose name is not the algorithm's."
        )
    return name


def defaults_table() -> str:
    """The defaults where SB3's differ from ours, as the README shows them (the importer writes SB3's)."""
    from neurenix.rl import registry

    lines = ["| algorithm | hyperparameter | Neurenix | SB3 |", "|---|---|---|---|"]
    for algorithm, sb3 in SB3_DEFAULTS.items():
        for field in registry.get(algorithm).Hyperparameters.declared():
            ours = plain(field.default)
            if field.name in sb3 and sb3[field.name] != ours:
                lines.append(
                    f"| {algorithm} | `{field.name}` | {json.dumps(ours)} | {json.dumps(sb3[field.name])} |"
                )
    return "\n".join(lines) + "\n"


def import_entry(path: Path, env_id: str, algo: str | None = None) -> str:
    """The Neurenix config of the Zoo entry, as YAML text with a header naming its source."""
    from neurenix_cli.config.reading import dump_yaml

    algorithm = algorithm_of(path, algo)
    name, entry = read_entry(path, env_id)
    config, notes = Translation(entry, algorithm, env_id, f"{path}: {name}").config()
    shown = env_id if name == env_id else f"{name}, for {env_id}"
    header = [
        f"# Imported by `neurenix zoo import` from {path}, entry {shown} ({algorithm}).",
        "# Keys the entry leaves out are SB3's defaults, written out: they differ from Neurenix's in places.",
        *(f"# {note}" for note in notes),
    ]
    return "\n".join(header) + "\n" + dump_yaml(config)


class Translation:
    """One entry's keys, taken one by one into a config; what is left at the end has no translation."""

    def __init__(self, entry: dict, algorithm: str, env_id: str, where: str) -> None:
        from neurenix.rl import registry

        self.left = dict(entry)
        self.algorithm, self.env_id, self.where = algorithm, env_id, where
        self.fields = {f.name: f for f in registry.get(algorithm).Hyperparameters.declared()}
        self.agent: dict[str, Any] = dict(SB3_DEFAULTS[algorithm])
        self.env: dict[str, Any] = {"id": env_id, "n_envs": 1}
        self.train: dict[str, Any] = {}
        self.refused: dict[str, str] = {}
        self.notes: list[str] = []

    def config(self) -> tuple[dict, list[str]]:
        self.common()
        self.policy_kwargs()
        getattr(self, self.algorithm if self.algorithm != "td3" else "ddpg")()
        self.rest()
        if self.refused:
            keys_by_reason: dict[str, list[str]] = {}
            for key, why in self.refused.items():
                keys_by_reason.setdefault(why, []).append(key)
            reasons = "; ".join(f"{', '.join(keys)}: {why}" for why, keys in keys_by_reason.items())
            raise ConfigError(
                f"{self.where}: cannot translate {', '.join(self.refused)} into a Neurenix {self.algorithm} "
                f"config ({reasons}). Nothing was written. To import the rest, remove those keys from a copy of "
                "the entry; it then trains something other than the Zoo entry.",
                key=next(iter(self.refused)),
            )
        agent = {name: self.agent[name] for name in self.fields if name in self.agent}  # the record's order
        config = {"algorithm": self.algorithm, "env": self.env, "agent": agent, "train": self.train}
        return plain(config), self.notes

    # ------------------------------------------------------------------------------------------ helpers
    def take(self, key: str, default: Any = None) -> Any:
        return self.left.pop(key, default)

    def refuse(self, key: str, why: str) -> None:
        self.refused[key] = why

    def put(self, sb3: str, value: Any) -> None:
        """Write `value` to every path the name table gives for `sb3` (or agent.<sb3> for a shared name)."""
        if sb3 in self.refused:
            return
        for path in sb3_names.targets(sb3, self.algorithm) or (f"agent.{sb3}",):
            section, name = path.split(".", 1)
            if section == "agent":
                value = self.typed(sb3, name, value)
                if value is None and not self.fields[name].optional:
                    return
            {"agent": self.agent, "env": self.env, "train": self.train}[section][name] = value

    def typed(self, sb3: str, name: str, value: Any) -> Any:
        """`value` as our field `name` types it (ints from `1e5`, numbers from "1e-3"), else refused."""
        try:
            return coerce(value, self.fields[name].annotation)
        except TypeError:
            self.refuse(sb3, f"{value!r} is not a value of {name}")
            return None

    def expression(self, key: str, value: Any) -> Any:
        return parse_expression(value, f"{self.where}: {key}") if isinstance(value, str) else value

    def schedule(self, key: str, value: Any, schedule_field: str | None) -> Any:
        """RL Zoo's `lin_X` is X falling linearly to 0 over the budget: ours is the value and a linear schedule,
        where the algorithm has one for this key."""
        if isinstance(value, str) and value.startswith("lin_"):
            if schedule_field is None:
                self.refuse(key, f"{self.algorithm} has no schedule for it, as {value} asks")
                return None
            self.agent[schedule_field] = "linear"
            return value[len("lin_") :]
        return value

    # ------------------------------------------------------------------------------------------ keys
    def common(self) -> None:
        policy = self.take("policy", "MlpPolicy")
        if policy == "CnnPolicy":
            self.agent["encoder"] = "nature_cnn"  # SB3's CnnPolicy reads images with NatureCNN
            # SB3's defaults over NatureCNN, which a policy_kwargs net_arch still overrides: no hidden layer for
            # DQN, A2C and PPO (the heads read the 512 features), and SAC's [256, 256] for the box-action three
            # (TD3Policy, DDPG's too, widens to [400, 300] only over flat features).
            if self.algorithm == "dqn":
                self.agent["hidden_dims"] = []
            else:
                widths = [256, 256] if self.algorithm in ("ddpg", "td3", "sac") else []
                self.agent["actor_hidden_dims"] = self.agent["critic_hidden_dims"] = widths
        elif policy not in (
            "MlpPolicy",
            "MultiInputPolicy",
        ):  # our front-end takes Dict observations as it is
            self.refuse("policy", f"MlpPolicy, MultiInputPolicy or CnnPolicy, not {policy}")
        budget = self.take("n_timesteps")
        if budget is None:
            self.refuse("n_timesteps", "the entry has no budget")
        else:
            self.train["total_steps"] = self.count("n_timesteps", budget)
        self.env["n_envs"] = self.count("n_envs", self.take("n_envs", 1))
        self.registering_import()
        kwargs = self.expression("env_kwargs", self.take("env_kwargs", {}))
        if not isinstance(kwargs, dict) or any(isinstance(value, Symbol) for value in kwargs.values()):
            self.refuse("env_kwargs", f"{kwargs!r} is not a mapping of plain values")
        elif kwargs:
            self.env["kwargs"] = kwargs
        if "env_wrapper" in self.left:
            self.env_wrapper(self.expression("env_wrapper", self.take("env_wrapper")))
        if "frame_stack" in self.left:  # RL Zoo's VecFrameStack, over every other wrapper: env.frame_stack's
            self.env["frame_stack"] = self.count("frame_stack", self.take("frame_stack"))
        if "gamma" in self.left:
            self.put("gamma", self.take("gamma"))
        lr = self.take("learning_rate")
        if lr is not None:  # every algorithm's rates take RL Zoo's lin_X as lr_schedule: linear
            self.put("learning_rate", self.schedule("learning_rate", lr, "lr_schedule"))
        normalize = self.expression("normalize", self.take("normalize", False))
        if normalize is not False:
            self.normalize(normalize)
        self.gsde()
        for key, why in UNSUPPORTED.items():
            if key in self.left:
                self.take(key)
                self.refuse(key, why)

    def registering_import(self) -> None:
        """env.imports for an id that a package registers (MiniGrid's, Atari's: RL Zoo imports both when they
        are installed), imported here too so that probing the env below finds it."""
        from neurenix.rl.environment import RegisteringPackage, registering_package

        package = registering_package(self.env_id)
        if package is None and is_atari(self.env_id):  # Pong-v4 and the like: ALE's, but named like any env
            package = RegisteringPackage("ale_py", "atari")
        if package is None:
            return
        self.env["imports"] = [package.module]
        try:
            importlib.import_module(package.module)
        except ImportError:
            self.notes.append(
                f"{package.module} is not installed here, which {self.env_id} needs: "
                f"pip install 'neurenix[{package.extra}]'."
            )

    def env_wrapper(self, value: Any) -> None:
        """RL Zoo's env_wrapper (a class name, a one-key mapping of it to keyword arguments, or a list of those)
        is env.wrappers' own form; `--check` imports the classes."""
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            named = isinstance(entry, str) or (
                isinstance(entry, dict) and len(entry) == 1 and isinstance(next(iter(entry)), str)
            )
            if not named:
                self.refuse("env_wrapper", f"{entry!r} is not a class name or {{name: {{keyword: value}}}}")
                return
            arguments = {} if isinstance(entry, str) else next(iter(entry.values())) or {}
            if not isinstance(arguments, dict):
                self.refuse("env_wrapper", f"{entry!r} is not a class name or {{name: {{keyword: value}}}}")
                return
            named_arguments = list(_named_parts(arguments))
            if named_arguments:  # a class or function as an argument: a config holds only its name, as text
                self.refuse(
                    "env_wrapper",
                    f"{next(iter(entry))} takes {', '.join(named_arguments)} as a Python name, which a config "
                    "cannot pass",
                )
                return
        self.env["wrappers"] = wrappers = []
        for entry in entries:
            name = str(entry if isinstance(entry, str) else next(iter(entry)))  # a Symbol is not YAML
            if name != SB3_ATARI_WRAPPER:
                wrappers.append(name if isinstance(entry, str) else {name: plain(entry[name])})
                continue
            kwargs = {} if isinstance(entry, str) else dict(entry[name] or {})
            wrappers.extend(self.atari_wrapper(kwargs))

    def atari_wrapper(self, kwargs: dict) -> list:
        """SB3's AtariWrapper as gymnasium's AtariPreprocessing (no-op reset, frame skip with max-pooling, 84x84
        grayscale) and Neurenix's FireReset (where the game has FIRE, as SB3 checks); its life-loss episodes
        and reward clipping go to env.training_wrappers, as RL Zoo's evaluation scores the real game."""
        unknown = sorted(set(kwargs) - set(ATARI_WRAPPER_DEFAULTS))
        if unknown:
            self.refuse("env_wrapper", f"AtariWrapper takes no {', '.join(unknown)}")
            return []
        options = {**ATARI_WRAPPER_DEFAULTS, **kwargs}
        if is_atari(self.env_id) and self.builtin_frameskip() != 1:
            self.refuse(
                "env_wrapper",
                f"AtariWrapper skips frames itself, and {self.env_id} already skips "
                f"{self.builtin_frameskip()} (RL Zoo trains the NoFrameskip-v4 ids; a v5 id takes env_kwargs "
                "frameskip: 1)",
            )
            return []
        if options["action_repeat_probability"]:
            self.env.setdefault("kwargs", {})["repeat_action_probability"] = options[
                "action_repeat_probability"
            ]
        wrappers: list = [
            {
                "gymnasium.wrappers.AtariPreprocessing": {
                    "noop_max": options["noop_max"],
                    "frame_skip": options["frame_skip"],
                    "screen_size": options["screen_size"],
                    "grayscale_obs": True,
                    "terminal_on_life_loss": False,
                }
            }
        ]
        if "FIRE" in self.action_meanings():
            wrappers.append("neurenix.rl.atari.FireReset")
        training = []
        if options["terminal_on_life_loss"]:
            training.append("neurenix.rl.atari.EpisodicLife")
        if options[
            "clip_reward"
        ]:  # SB3 takes the sign; Atari's rewards are whole numbers, so clipping is the same
            training.append({"gymnasium.wrappers.ClipReward": {"min_reward": -1.0, "max_reward": 1.0}})
        if training:
            self.env["training_wrappers"] = training
        return wrappers

    def builtin_frameskip(self) -> Any:
        """The frames the ALE env itself repeats each action for (1; 4 for v5 ids; 2-4 at random for v4's)."""
        import gymnasium as gym

        return {**gym.spec(self.env_id).kwargs, **self.env.get("kwargs", {})}.get("frameskip", 1)

    def action_meanings(self) -> list[str]:
        """The game's actions, which decide whether SB3's AtariWrapper presses FIRE; an id that is no Atari game
        is refused (and gets none)."""
        import gymnasium as gym

        if not is_atari(self.env_id):
            self.refuse("env_wrapper", f"AtariWrapper wraps Atari games, and {self.env_id} is not one")
            return []
        env = gym.make(self.env_id)
        try:
            return list(env.unwrapped.get_action_meanings())
        finally:
            env.close()

    def gsde(self) -> None:
        """use_sde and its options; SB3 reads sde_sample_freq and use_sde_at_warmup only with use_sde."""
        use_sde = self.take("use_sde", False)
        freq, at_warmup = self.take("sde_sample_freq"), self.take("use_sde_at_warmup", False)
        if use_sde is False:
            return
        if self.algorithm not in GSDE_ALGORITHMS:
            self.refuse("use_sde", f"gSDE is for {', '.join(GSDE_ALGORITHMS)}, in SB3 as here")
            return
        self.put("use_sde", use_sde)
        if freq is not None:
            self.put("sde_sample_freq", freq)
        if at_warmup is not False:
            self.refuse(
                "use_sde_at_warmup",
                "the warm-up before learning_starts acts uniformly at random, as SB3's default",
            )

    def count(self, key: str, value: Any) -> int:
        try:
            number = coerce(value, int)
        except TypeError:
            number = 0
        if number < 1:
            self.refuse(key, f"{value!r} is not a positive whole number")
        return number

    def normalize(self, value: Any) -> None:
        """RL Zoo's VecNormalize, for any algorithm: off-policy ones keep raw transitions in replay and
        normalise each sampled batch, as SB3 does with a VecNormalize env."""
        options = {} if value is True else value
        if not isinstance(options, dict):
            self.refuse("normalize", f"{value!r} is neither true nor a mapping")
            return
        options = dict(options)
        observations, rewards = options.pop("norm_obs", True), options.pop("norm_reward", True)
        for key, ours in (("clip_obs", 10.0), ("clip_reward", 10.0), ("gamma", self.agent["gamma"])):
            if key in options and options[key] == ours:
                options.pop(key)  # what ours does anyway
        if options:
            self.refuse("normalize", f"VecNormalize options {', '.join(options)}")
        self.agent["normalize_observations"], self.agent["normalize_rewards"] = (
            bool(observations),
            bool(rewards),
        )

    def policy_kwargs(self) -> None:
        kwargs = self.expression("policy_kwargs", self.take("policy_kwargs", {}))
        if not isinstance(kwargs, dict):
            self.refuse("policy_kwargs", f"{kwargs!r} is not dict(...)")
            return
        kwargs = dict(kwargs)
        on_policy = self.algorithm in sb3_names.ON_POLICY
        if "net_arch" in kwargs:
            self.net_arch(kwargs.pop("net_arch"))
        if "activation_fn" in kwargs:
            name = str(kwargs.pop("activation_fn"))
            module, _, short = name.rpartition(".")
            ours = ACTIVATIONS.get(short) if module in ("nn", "th.nn", "torch.nn") else None
            if on_policy and ours is not None:
                self.agent["activation"] = ours
            elif ours != "relu":  # the off-policy networks are ReLU MLPs, as SB3's
                self.refuse("policy_kwargs.activation_fn", activation_reason(name, on_policy))
        if on_policy and "optimizer_class" in kwargs:
            self.optimizer_class(kwargs.pop("optimizer_class"), kwargs.pop("optimizer_kwargs", None))
        if on_policy:
            for key in ("ortho_init", "log_std_init"):
                if key in kwargs:
                    self.put(key, kwargs.pop(key))
        if self.algorithm in GSDE_ALGORITHMS:
            if self.algorithm == "sac" and "log_std_init" in kwargs:  # SAC's squashed box is the unit box
                self.put("log_std_init", kwargs.pop("log_std_init"))
            if "use_expln" in kwargs:
                self.put("use_expln", kwargs.pop("use_expln"))
            if kwargs.get("full_std", True) is True:
                kwargs.pop("full_std", None)
        if self.algorithm in ("td3", "sac") and kwargs.get("n_critics", 2) == 2:
            kwargs.pop("n_critics", None)
        if self.algorithm == "ddpg" and kwargs.get("n_critics", 1) == 1:
            kwargs.pop("n_critics", None)
        for key in kwargs:
            why = {
                "full_std": "gSDE with one std per feature shared by the action dimensions (ours has one per feature and action)"
            }
            fallback = UNSUPPORTED.get(key, f"no counterpart for {self.algorithm}")
            self.refuse(f"policy_kwargs.{key}", why.get(key, fallback))

    def optimizer_class(self, name: Any, options: Any) -> None:
        """A2C's or PPO's optimizer from policy_kwargs. SB3 then builds `name(params, lr, **options)` (Adam
        without options at eps 1e-5), and A2C ignores use_rms_prop and rms_prop_eps."""
        ours = OPTIMIZER_CLASSES.get(str(name))
        if ours is None:
            self.refuse(
                "policy_kwargs.optimizer_class",
                f"A2C and PPO take {', '.join(OPTIMIZER_CLASSES)}, not {name}",
            )
            return
        if options is None:
            options = {"eps": 1e-5} if ours == "adam" else {}
        wanted = {**TORCH_OPTIONS[ours], "eps": 1e-5}
        given = {**TORCH_OPTIONS[ours], **options} if isinstance(options, dict) else None
        if given is None or {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()} != wanted:
            settings = ", ".join(f"{key}={value!r}" for key, value in wanted.items())
            self.refuse("policy_kwargs.optimizer_kwargs", f"our {ours} runs with {settings}, not {options!r}")
            return
        self.agent["optimizer"] = ours
        if self.algorithm == "a2c":
            ignored = [key for key in ("use_rms_prop", "rms_prop_eps") if self.take(key) is not None]
            if ignored:
                self.notes.append(
                    f"{' and '.join(ignored)}: SB3 ignores them when policy_kwargs sets the optimizer."
                )

    def net_arch(self, arch: Any) -> None:
        critic = "vf" if self.algorithm in sb3_names.ON_POLICY else "qf"
        if isinstance(arch, list) and all(isinstance(width, int) for width in arch):
            self.put("net_arch", arch)
        elif isinstance(arch, dict) and set(arch) == {"pi", critic} and self.algorithm != "dqn":
            self.agent["actor_hidden_dims"] = self.typed("net_arch", "actor_hidden_dims", arch["pi"])
            self.agent["critic_hidden_dims"] = self.typed("net_arch", "critic_hidden_dims", arch[critic])
        else:
            self.refuse(
                "policy_kwargs.net_arch", f"{arch!r}: a list of widths, or dict(pi=..., {critic}=...)"
            )

    def off_policy(self) -> None:
        if "train_freq" in self.left:
            freq = self.take("train_freq")
            # SB3's (n, "step") or (n, "episode"): the count goes to train_freq, the unit (when not our default
            # step) beside it.
            if isinstance(freq, list) and len(freq) == 2 and freq[1] in ("step", "episode"):
                if freq[1] == "episode":
                    self.agent["train_freq_unit"] = "episode"
                freq = freq[0]
            if isinstance(freq, list):
                self.refuse("train_freq", f"{freq!r} is neither n nor [n, 'step'] nor [n, 'episode']")
            else:
                self.put("train_freq", freq)

    def dqn(self) -> None:
        self.off_policy()
        tau = self.take("tau", 1.0)
        if tau != 1.0:
            self.refuse("tau", f"DQN's target network is copied whole (tau 1), not mixed at {tau}")
        for key in (
            "exploration_fraction",
            "exploration_initial_eps",
            "exploration_final_eps",
            "target_update_interval",
        ):
            if key in self.left:
                self.put(key, self.take(key))

    def ddpg(self) -> None:
        self.off_policy()
        noise_type, noise_std = self.take("noise_type"), self.take("noise_std")
        if noise_type is not None or noise_std is not None:
            if noise_type not in NOISE_TYPES:
                self.refuse("noise_type", f"normal or ornstein-uhlenbeck, not {noise_type!r}")
            elif noise_std is None:
                self.refuse("noise_type", "noise_std is missing")
            else:
                self.agent["noise_type"] = NOISE_TYPES[noise_type]
                self.put("noise_std", noise_std)

    def sac(self) -> None:
        self.off_policy()
        coef = self.take("ent_coef")  # absent or "auto": SB3's learned coefficient, starting at 1
        if isinstance(coef, str) and coef.startswith("auto_"):
            self.agent["alpha"] = self.typed("ent_coef", "alpha", coef[len("auto_") :])
        elif coef is not None and coef != "auto":
            self.agent["auto_alpha"] = False
            self.agent["alpha"] = self.typed("ent_coef", "alpha", coef)
        if self.take("target_update_interval", 1) != 1:
            self.refuse("target_update_interval", "SAC's targets follow every gradient step here")

    def on_policy(self) -> None:
        coef = self.take("ent_coef")
        if coef is not None:
            self.put("ent_coef", self.schedule("ent_coef", coef, None))
        if "vf_coef" in self.left:
            self.put("vf_coef", self.take("vf_coef"))

    def a2c(self) -> None:
        self.on_policy()
        if "use_rms_prop" in self.left:
            self.agent["optimizer"] = "rmsprop" if self.take("use_rms_prop") else "adam"
        if self.take("rms_prop_eps", 1e-5) != 1e-5:
            self.refuse("rms_prop_eps", "our RMSprop's eps is SB3's default, 1e-5")

    def ppo(self) -> None:
        self.on_policy()
        clip = self.take("clip_range")
        if clip is not None:
            self.put("clip_range", self.schedule("clip_range", clip, "clip_schedule"))
        vf_clip = self.take("clip_range_vf")
        if vf_clip is not None:
            self.put("clip_range_vf", self.schedule("clip_range_vf", vf_clip, None))

    def rest(self) -> None:
        """Keys named alike in both (batch_size, tau, n_steps, ...); anything else has no counterpart."""
        for key in list(self.left):
            value = self.take(key)
            if key in self.fields and key not in ("n_envs", "name"):
                self.put(key, value)
            else:
                self.refuse(key, "no counterpart in Neurenix")
        if self.algorithm in sb3_names.ON_POLICY and not self.refused:
            self.unit_box_log_std()

    def unit_box_log_std(self) -> None:
        """Our Gaussian lives in the unit box, SB3's in the env's action units: the same starting spread is
        log_std_init - log(half-range), for an env whose action dimensions share one half-range."""
        import numpy as np

        from neurenix.rl.environment import make_env

        try:
            env = make_env(self.env_id, n_envs=1, seed=None, **self.env.get("kwargs", {}))
        except Exception as exc:  # not installed here: the config may be meant for another machine
            self.notes.append(
                f"log_std_init {self.agent['log_std_init']} is SB3's, unconverted: {self.env_id} could not be made "
                f"here to read its action range ({str(exc).split(' (')[0]})."
            )
            return
        try:
            space = env.action_space
        finally:
            env.close()
        if not hasattr(space, "high"):
            return
        half = (np.asarray(space.high, dtype=np.float64) - np.asarray(space.low, dtype=np.float64)) / 2
        sb3 = float(self.agent["log_std_init"])
        if np.allclose(half, half.flat[0]) and np.isfinite(half.flat[0]):
            self.agent["log_std_init"] = round(sb3 - math.log(float(half.flat[0])), 6)
            if half.flat[0] != 1.0:
                self.notes.append(
                    f"log_std_init {self.agent['log_std_init']} is SB3's {sb3} in the unit action box "
                    f"({self.env_id}'s actions span +-{float(half.flat[0]):g})."
                )
        else:
            self.notes.append(
                f"log_std_init {sb3} is SB3's, in the env's units; Neurenix reads it in the unit box, and "
                f"{self.env_id}'s action dimensions have different ranges."
            )
