"""SB3 and RL Zoo names next to ours: the one table that `neurenix zoo import` translates with, that an unknown
config key's did-you-mean reads, and that the README's "Coming from Stable-Baselines3 / RL Zoo" shows.

A name missing here means the same thing under the same name in both (`gamma`, `batch_size`, `tau`, ...) or has no
counterpart (the importer names those in its error).
"""

from __future__ import annotations

from typing import NamedTuple

ALGORITHMS = ("a2c", "ppo", "dqn", "ddpg", "td3", "sac")
ON_POLICY = ("a2c", "ppo")
ACTOR_CRITIC_OFF_POLICY = ("ddpg", "td3", "sac")


class Rename(NamedTuple):
    """SB3's (or RL Zoo's) `sb3` is `ours` (config paths; one value written to each) for `algorithms`."""

    sb3: str
    ours: tuple[str, ...]
    algorithms: tuple[str, ...]
    note: str = ""


RENAMES = (
    Rename("n_timesteps", ("train.total_steps",), ALGORITHMS, "RL Zoo's budget, summed over the envs"),
    Rename("n_envs", ("env.n_envs",), ALGORITHMS),
    Rename("env_kwargs", ("env.kwargs",), ALGORITHMS),
    Rename(
        "env_wrapper",
        ("env.wrappers",),
        ALGORITHMS,
        "the same form: a class name, `{name: {kwargs}}`, or a list of those",
    ),
    Rename(
        "frame_stack",
        ("env.frame_stack",),
        ALGORITHMS,
        "RL Zoo's VecFrameStack, over the wrappers; DQN, DDPG, TD3 and SAC store each frame once",
    ),
    Rename("learning_rate", ("agent.learning_rate",), ("dqn",), "`lin_X`: X and `agent.lr_schedule: linear`"),
    Rename(
        "learning_rate",
        ("agent.actor_learning_rate", "agent.critic_learning_rate"),
        ("a2c", "ppo", "ddpg", "td3"),
        "`lin_X`: X and `agent.lr_schedule: linear`",
    ),
    Rename(
        "learning_rate",
        ("agent.actor_learning_rate", "agent.critic_learning_rate", "agent.alpha_learning_rate"),
        ("sac",),
        "`lin_X`: X and `agent.lr_schedule: linear`",
    ),
    Rename("net_arch", ("agent.hidden_dims",), ("dqn",), "in policy_kwargs"),
    Rename(
        "net_arch",
        ("agent.actor_hidden_dims", "agent.critic_hidden_dims"),
        (*ON_POLICY, *ACTOR_CRITIC_OFF_POLICY),
        "in policy_kwargs; `dict(pi=..., vf=...)` / `dict(pi=..., qf=...)` set each",
    ),
    Rename("activation_fn", ("agent.activation",), ON_POLICY, "in policy_kwargs; `nn.Tanh` is `tanh`"),
    Rename("clip_range", ("agent.clip_ratio",), ("ppo",), "`lin_X`: X and `agent.clip_schedule: linear`"),
    Rename("ent_coef", ("agent.entropy_coef",), ON_POLICY),
    Rename(
        "ent_coef",
        ("agent.alpha", "agent.auto_alpha"),
        ("sac",),
        "`auto`: auto_alpha true, alpha 1.0 (SB3's start); `auto_X`: start at X; a number: fixed",
    ),
    Rename("vf_coef", ("agent.value_coef",), ON_POLICY),
    Rename("use_rms_prop", ("agent.optimizer",), ("a2c",), "true is `rmsprop`, false `adam`"),
    Rename(
        "normalize",
        ("agent.normalize_observations", "agent.normalize_rewards"),
        ALGORITHMS,
        "RL Zoo's VecNormalize",
    ),
    Rename(
        "target_update_interval", ("agent.update_target_every",), ("dqn",), "env steps, summed over the envs"
    ),
    Rename(
        "train_freq",
        ("agent.train_freq",),
        ("dqn", *ACTOR_CRITIC_OFF_POLICY),
        '`n` or `[n, "step"]`: n; `[n, "episode"]`: n and `agent.train_freq_unit: episode`',
    ),
    Rename("exploration_initial_eps", ("agent.epsilon_start",), ("dqn",)),
    Rename("exploration_final_eps", ("agent.epsilon_end",), ("dqn",)),
    Rename(
        "noise_std",
        ("agent.exploration_noise",),
        ("ddpg", "td3"),
        "RL Zoo's; in the unit action box, as SB3's",
    ),
    Rename(
        "noise_type",
        ("agent.noise_type",),
        ("ddpg", "td3"),
        "`normal` is `gaussian`, `ornstein-uhlenbeck` is `ornstein_uhlenbeck`",
    ),
)


def targets(sb3: str, algorithm: str) -> tuple[str, ...]:
    """Our config paths for SB3's `sb3` in `algorithm`, or () when the table has no row for it."""
    for row in RENAMES:
        if row.sb3 == sb3 and algorithm in row.algorithms:
            return row.ours
    return ()


def hints(algorithm: str) -> dict[str, str]:
    """SB3 name -> "SB3's X is Y here." for every row of `algorithm` whose name differs from ours."""
    found = {}
    for row in RENAMES:
        if algorithm in row.algorithms and row.ours != (f"agent.{row.sb3}",):
            found[row.sb3] = f"SB3's {row.sb3} is {' and '.join(row.ours)} here."
    return found


def markdown_table() -> str:
    """The table as the README shows it, one row per name and group of algorithms."""
    lines = ["| SB3 / RL Zoo | Neurenix | algorithms | note |", "|---|---|---|---|"]
    for row in RENAMES:
        ours = ", ".join(f"`{path}`" for path in row.ours)
        lines.append(f"| `{row.sb3}` | {ours} | {', '.join(row.algorithms)} | {row.note} |")
    return "\n".join(lines) + "\n"
