"""`neurenix zoo import`: RL Zoo 2.9.2's own entries (fixtures/zoo/) become configs `train --check` accepts, or
fail naming the key Neurenix cannot express; expressions are read, never run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from neurenix.errors import ConfigError
from neurenix_cli.zoo import parse_expression

FIXTURES = Path(__file__).parent / "fixtures" / "zoo"
# RL Zoo trains every Atari game with a file's `atari` entry: imported here for Breakout, which needs FIRE.
ATARI_GAME = "BreakoutNoFrameskip-v4"
ENTRIES = [
    (path.stem, ATARI_GAME if name == "atari" else name)
    for path in sorted(FIXTURES.glob("*.yml"))
    for name in yaml.safe_load(path.read_text(encoding="utf-8"))
]


def imported(cli, *args) -> dict:
    result = cli("zoo", "import", *args)
    assert result.exit_code == 0, result.output
    return yaml.safe_load(result.stdout)


def write_entry(tmp_path: Path, entry: str, name: str = "ppo.yml") -> Path:
    path = tmp_path / name
    path.write_text(entry, encoding="utf-8")
    return path


def test_the_fixtures_hold_every_algorithm_and_env():
    assert {algo for algo, _ in ENTRIES} == {"a2c", "ppo", "dqn", "sac", "td3", "ddpg"}
    assert len(ENTRIES) == 30


@pytest.mark.parametrize(("algo", "env_id"), ENTRIES)
def test_every_zoo_entry_imports_to_a_config_train_accepts(cli, tmp_path, algo, env_id):
    result = cli("zoo", "import", FIXTURES / f"{algo}.yml", env_id)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"# Imported by `neurenix zoo import` from {FIXTURES / f'{algo}.yml'}, ")
    shown = f"atari, for {env_id}" if env_id == ATARI_GAME else env_id
    assert f"entry {shown} ({algo})" in result.stdout.splitlines()[0]
    config = tmp_path / "config.yaml"
    config.write_text(result.stdout, encoding="utf-8")
    checked = cli("train", config, "--check")
    assert checked.exit_code == 0, checked.output


def test_ppo_cartpole_takes_the_entry_and_sb3s_defaults(cli):
    config = imported(cli, FIXTURES / "ppo.yml", "CartPole-v1")
    assert config["env"] == {"id": "CartPole-v1", "n_envs": 8}
    assert config["train"] == {"total_steps": 100_000}  # `!!float 1e5`, as a count
    agent = config["agent"]
    # lin_0.001 and lin_0.2: the value and a linear schedule to 0
    assert agent["actor_learning_rate"] == agent["critic_learning_rate"] == 0.001
    assert agent["lr_schedule"] == agent["clip_schedule"] == "linear" and agent["clip_ratio"] == 0.2
    assert (agent["n_steps"], agent["batch_size"], agent["n_epochs"]) == (32, 256, 20)
    assert (agent["gae_lambda"], agent["gamma"], agent["entropy_coef"]) == (0.8, 0.98, 0.0)
    # SB3's defaults where ours differ: no KL early stop, no entropy bonus
    assert agent["target_kl"] is None and agent["value_coef"] == 0.5


def test_dqn_cartpole_renames_and_sb3_defaults(cli):
    agent = imported(cli, FIXTURES / "dqn.yml", "CartPole-v1")["agent"]
    assert agent["hidden_dims"] == [256, 256] and agent["learning_rate"] == 0.0023
    assert agent["update_target_every"] == 10 and agent["epsilon_end"] == 0.04
    assert agent["exploration_fraction"] == 0.16 and agent["epsilon_start"] == 1.0
    assert (agent["train_freq"], agent["gradient_steps"], agent["max_grad_norm"]) == (256, 128, 10.0)


def test_sac_pendulum_gets_sb3s_defaults_for_what_the_entry_leaves_out(cli):
    agent = imported(cli, FIXTURES / "sac.yml", "Pendulum-v1")["agent"]
    assert (
        agent["actor_learning_rate"] == agent["critic_learning_rate"] == agent["alpha_learning_rate"] == 1e-3
    )
    assert (agent["buffer_size"], agent["batch_size"], agent["learning_starts"]) == (1_000_000, 256, 100)
    assert agent["actor_hidden_dims"] == agent["critic_hidden_dims"] == [256, 256]
    assert agent["auto_alpha"] is True and agent["alpha"] == 1.0  # ent_coef auto starts at 1 in SB3


def test_td3_and_ddpg_noise(cli):
    agent = imported(cli, FIXTURES / "td3.yml", "MountainCarContinuous-v0")["agent"]
    assert (agent["noise_type"], agent["exploration_noise"]) == ("ornstein_uhlenbeck", 0.5)
    agent = imported(cli, FIXTURES / "ddpg.yml", "Pendulum-v1")["agent"]
    assert (agent["noise_type"], agent["exploration_noise"]) == ("gaussian", 0.1)
    assert agent["actor_hidden_dims"] == [400, 300] and agent["learning_starts"] == 10_000


def test_a2c_normalize_true_normalises_observations_and_rewards(cli):
    agent = imported(cli, FIXTURES / "a2c.yml", "MountainCar-v0")["agent"]
    assert agent["normalize_observations"] is True and agent["normalize_rewards"] is True
    assert agent["optimizer"] == "rmsprop" and agent["actor_learning_rate"] == 7e-4 and agent["n_steps"] == 5


ENTRY = "CartPole-v1:\n  n_timesteps: !!float 1e4\n  policy: 'MlpPolicy'\n"


@pytest.mark.parametrize(
    ("name", "lines", "agent"),
    [
        (
            "ppo.yml",
            [
                'policy_kwargs: "dict(net_arch=dict(pi=[32], vf=[16]), activation_fn=nn.ReLU, ortho_init=False)"'
            ],
            {
                "actor_hidden_dims": [32],
                "critic_hidden_dims": [16],
                "activation": "relu",
                "ortho_init": False,
            },
        ),
        (
            "ppo.yml",
            ["learning_rate: 1e-3", "clip_range: 0.1"],
            {"actor_learning_rate": 0.001, "clip_ratio": 0.1},
        ),
        (
            "ppo.yml",
            ["normalize: \"{'norm_obs': True, 'norm_reward': False}\""],
            {"normalize_observations": True, "normalize_rewards": False},
        ),
        # Off-policy algorithms normalise too (raw replay, batches scaled when sampled), as with SB3.
        ("sac.yml", ["normalize: true"], {"normalize_observations": True, "normalize_rewards": True}),
        (
            "td3.yml",
            ["normalize: \"{'norm_obs': True, 'norm_reward': False}\""],
            {"normalize_observations": True, "normalize_rewards": False},
        ),
        ("dqn.yml", ["normalize: True"], {"normalize_observations": True, "normalize_rewards": True}),
        (
            "dqn.yml",
            ['train_freq: [4, "step"]', "exploration_initial_eps: 0.5"],
            {"train_freq": 4, "epsilon_start": 0.5},
        ),
        ("a2c.yml", ["use_rms_prop: False", "vf_coef: 0.25"], {"optimizer": "adam", "value_coef": 0.25}),
        # The Atari entry's optimizer; and SB3 ignores use_rms_prop once policy_kwargs names one.
        (
            "a2c.yml",
            ['policy_kwargs: "dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5))"'],
            {"optimizer": "rmsprop_tf"},
        ),
        (
            "a2c.yml",
            ['policy_kwargs: "dict(optimizer_class=th.optim.Adam)"', "use_rms_prop: True"],
            {"optimizer": "adam"},
        ),
        (
            "ppo.yml",
            [
                'policy_kwargs: "dict(optimizer_class=th.optim.RMSprop, optimizer_kwargs=dict(alpha=0.99, eps=1e-5))"'
            ],
            {"optimizer": "rmsprop"},
        ),
    ],
)
def test_keys_map_to_ours(cli, tmp_path, name, lines, agent):
    path = write_entry(tmp_path, ENTRY + "".join(f"  {line}\n" for line in lines), name)
    config = imported(cli, path, "CartPole-v1")
    assert {key: config["agent"][key] for key in agent} == agent


@pytest.mark.parametrize(
    ("lines", "auto", "alpha"),
    [([], True, 1.0), (["ent_coef: auto_0.1"], True, 0.1), (["ent_coef: 0.05"], False, 0.05)],
)
def test_sac_ent_coef(cli, tmp_path, lines, auto, alpha):
    entry = "Pendulum-v1:\n  n_timesteps: 1000\n" + "".join(f"  {line}\n" for line in lines)
    agent = imported(cli, write_entry(tmp_path, entry, "sac.yml"), "Pendulum-v1")["agent"]
    assert (agent["auto_alpha"], agent["alpha"]) == (auto, alpha)


def test_sac_net_arch_dict_sets_actor_and_critics(cli, tmp_path):
    entry = (
        'Pendulum-v1:\n  n_timesteps: 1000\n  policy_kwargs: "dict(net_arch=dict(pi=[64], qf=[400, 300]))"\n'
    )
    agent = imported(cli, write_entry(tmp_path, entry, "sac.yml"), "Pendulum-v1")["agent"]
    assert (agent["actor_hidden_dims"], agent["critic_hidden_dims"]) == ([64], [400, 300])


def test_ppo_log_std_init_moves_into_the_unit_box(cli, tmp_path):
    # SB3's Gaussian is in Pendulum's units (actions in [-2, 2]); ours in [-1, 1]: the same spread is log(2) less.
    entry = 'Pendulum-v1:\n  n_timesteps: 1000\n  policy_kwargs: "dict(log_std_init=-1)"\n'
    result = cli("zoo", "import", write_entry(tmp_path, entry), "Pendulum-v1")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["agent"]["log_std_init"] == pytest.approx(-1 - math.log(2), abs=1e-6)
    assert "in the unit action box" in result.stdout


@pytest.mark.parametrize(
    ("name", "line", "key", "words"),
    [
        ("td3.yml", "use_sde: True", "use_sde", "gSDE is for sac, a2c, ppo"),
        ("sac.yml", "use_sde: True\n  use_sde_at_warmup: True", "use_sde_at_warmup", "uniformly at random"),
        ("ppo.yml", "ent_coef: lin_0.01", "ent_coef", "no schedule"),
        ("dqn.yml", 'train_freq: [1, "minute"]', "train_freq", "[n, 'episode']"),
        ("dqn.yml", "tau: 0.5", "tau", "copied whole"),
        ("ppo.yml", "frame_stack: 0", "frame_stack", "not a positive whole number"),
        ("ppo.yml", "env_wrapper: [3]", "env_wrapper", "not a class name"),
        (
            "ppo.yml",
            'policy_kwargs: "dict(activation_fn=nn.ELU)"',
            "policy_kwargs.activation_fn",
            "not nn.ELU",
        ),
        (
            "sac.yml",
            'policy_kwargs: "dict(activation_fn=nn.Tanh)"',
            "policy_kwargs.activation_fn",
            "ReLU MLPs",
        ),
        (  # RMSpropTFLike's own eps is 1e-8; ours runs at 1e-5
            "a2c.yml",
            'policy_kwargs: "dict(optimizer_class=RMSpropTFLike)"',
            "policy_kwargs.optimizer_kwargs",
            "eps=1e-05",
        ),
        (
            "ppo.yml",
            'policy_kwargs: "dict(optimizer_class=th.optim.SGD)"',
            "policy_kwargs.optimizer_class",
            "not th.optim.SGD",
        ),
        (
            "sac.yml",
            'policy_kwargs: "dict(optimizer_class=th.optim.Adam)"',
            "policy_kwargs.optimizer_class",
            "other optimizers",
        ),
        ("ppo.yml", "made_up_key: 3", "made_up_key", "no counterpart"),
        ("ppo.yml", "policy: RecurrentPolicy", "policy", "not RecurrentPolicy"),
    ],
)
def test_a_key_it_cannot_translate_is_named_never_dropped(cli, tmp_path, name, line, key, words):
    entry = ENTRY.replace("  policy: 'MlpPolicy'\n", "") if key == "policy" else ENTRY
    result = cli("zoo", "import", write_entry(tmp_path, entry + f"  {line}\n", name), "CartPole-v1")
    assert result.exit_code == 2 and result.stdout == ""
    message = result.stderr
    assert f"cannot translate {key}" in message and words in message and "Traceback" not in message
    assert len(message.strip().splitlines()) == 1  # one paragraph


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "dict(net_arch=[64, 64], activation_fn=nn.Tanh)",
            {"net_arch": [64, 64], "activation_fn": "nn.Tanh"},
        ),
        ("dict(pi=[256, 256], vf=[256, 256])", {"pi": [256, 256], "vf": [256, 256]}),
        ("{'norm_obs': True, 'norm_reward': False}", {"norm_obs": True, "norm_reward": False}),
        ("dict(log_std_init=-3.29, ortho_init=False)", {"log_std_init": -3.29, "ortho_init": False}),
        ("[1, 'episode']", [1, "episode"]),
    ],
)
def test_expressions_are_read_as_data(text, value):
    assert parse_expression(text, "x") == value


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch PWNED')",
        "dict(a=open('PWNED', 'w'))",
        "nn.__class__",
        "(lambda: 1)()",
        "[x for x in (1, 2)]",
        "2 ** 1000000",
        "dict(**{'a': 1})",
    ],
)
def test_code_in_an_expression_is_refused_never_run(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="refused|not a Python expression"):
        parse_expression(text, "policy_kwargs")
    assert not (tmp_path / "PWNED").exists()


def test_code_in_a_zoo_file_is_refused_through_the_cli(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = "policy_kwargs: \"__import__('os').system('touch PWNED')\""
    result = cli("zoo", "import", write_entry(tmp_path, ENTRY + f"  {line}\n"), "CartPole-v1")
    assert result.exit_code == 2 and "refused" in result.stderr and "Nothing in it was run" in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_yaml_tags_that_build_python_objects_are_refused(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    entry = 'CartPole-v1:\n  n_timesteps: !!python/object/apply:os.system ["touch PWNED"]\n'
    result = cli("zoo", "import", write_entry(tmp_path, entry), "CartPole-v1")
    assert result.exit_code == 2 and "is not valid YAML" in result.stderr
    assert not (tmp_path / "PWNED").exists()


def test_a_missing_file_exits_2(cli, tmp_path):
    result = cli("zoo", "import", tmp_path / "ppo.yml", "CartPole-v1")
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_an_env_not_in_the_file_gets_a_did_you_mean(cli):
    result = cli("zoo", "import", FIXTURES / "ppo.yml", "CartPole-v0")
    assert result.exit_code == 2 and "has no entry 'CartPole-v0'" in result.stderr
    assert "Did you mean 'CartPole-v1'" in result.stderr and "Acrobot-v1" in result.stderr


def test_the_algorithm_comes_from_the_file_name_or_algo(cli, tmp_path):
    path = write_entry(tmp_path, ENTRY, "my_tuning.yml")
    result = cli("zoo", "import", path, "CartPole-v1")
    assert (
        result.exit_code == 2
        and "my_tuning.yml names no algorithm" in result.stderr
        and "--algo" in result.stderr
    )
    assert imported(cli, path, "CartPole-v1", "--algo", "dqn")["algorithm"] == "dqn"
    result = cli("zoo", "import", path, "CartPole-v1", "--algo", "trpo")
    assert result.exit_code == 2 and "--algo trpo names no algorithm" in result.stderr


def test_env_wrapper_becomes_env_wrappers_in_order_with_its_arguments(cli, tmp_path):
    entry = (
        "Pendulum-v1:\n  n_timesteps: 4096\n  env_wrapper:\n"
        "    - gymnasium.wrappers.TimeAwareObservation\n"
        "    - gymnasium.wrappers.ClipReward: {min_reward: -1.0, max_reward: 1.0}\n"
    )
    config = imported(cli, write_entry(tmp_path, entry), "Pendulum-v1")
    assert config["env"]["wrappers"] == [
        "gymnasium.wrappers.TimeAwareObservation",
        {"gymnasium.wrappers.ClipReward": {"min_reward": -1.0, "max_reward": 1.0}},
    ]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = cli("train", path, "--check")
    assert checked.exit_code == 0, checked.output


def test_a_bare_env_wrapper_class_name_imports_as_plain_text(cli, tmp_path):
    # RL Zoo's MiniGrid entries write `env_wrapper: minigrid.wrappers.FlatObsWrapper`, an expression string.
    entry = "Pendulum-v1:\n  n_timesteps: 4096\n  env_wrapper: gymnasium.wrappers.TimeAwareObservation\n"
    config = imported(cli, write_entry(tmp_path, entry), "Pendulum-v1")
    assert config["env"]["wrappers"] == ["gymnasium.wrappers.TimeAwareObservation"]


def test_a_wrapper_argument_that_is_a_python_name_is_refused_not_passed_as_text(cli, tmp_path):
    for arguments, path in [("{'func': np.sign}", "func"), ("{'f': [1, {'g': np.sign}]}", "f[1].g")]:
        entry = (
            "CartPole-v1:\n  n_timesteps: 1000\n"
            f"  env_wrapper: \"{{'gymnasium.wrappers.TransformReward': {arguments}}}\"\n"
        )
        result = cli("zoo", "import", write_entry(tmp_path, entry), "CartPole-v1")
        assert result.exit_code == 2, result.output
        assert "cannot translate env_wrapper" in result.stderr
        assert f"takes {path} as a Python name" in result.stderr
        assert result.stdout == "" and "Traceback" not in result.output


def test_wrapper_arguments_that_are_not_a_mapping_are_refused(cli, tmp_path):
    entry = (
        "CartPole-v1:\n  n_timesteps: 1000\n"
        "  env_wrapper: \"{'gymnasium.wrappers.TimeAwareObservation': [1, 2]}\"\n"
    )
    result = cli("zoo", "import", write_entry(tmp_path, entry), "CartPole-v1")
    assert result.exit_code == 2 and "is not a class name or {name: {keyword: value}}" in result.stderr
    assert "Traceback" not in result.output


def test_train_freq_in_episodes_imports_and_train_check_accepts_it(cli, tmp_path):
    # RL Zoo's TD3/DDPG Pendulum settings: an update at the end of every episode, one gradient step per env step.
    entry = (
        "Pendulum-v1:\n  n_timesteps: 20000\n  policy: 'MlpPolicy'\n  learning_starts: 1000\n"
        '  train_freq: [1, "episode"]\n  gradient_steps: -1\n'
    )
    result = cli("zoo", "import", write_entry(tmp_path, entry, "td3.yml"), "Pendulum-v1")
    assert result.exit_code == 0, result.output
    agent = yaml.safe_load(result.stdout)["agent"]
    assert (agent["train_freq"], agent["train_freq_unit"], agent["gradient_steps"]) == (1, "episode", -1)
    config = tmp_path / "config.yaml"
    config.write_text(result.stdout, encoding="utf-8")
    checked = cli("train", config, "--check")
    assert checked.exit_code == 0, checked.output
    steps = imported(cli, write_entry(tmp_path, entry.replace("episode", "step"), "td3.yml"), "Pendulum-v1")
    assert steps["agent"]["train_freq"] == 1 and "train_freq_unit" not in steps["agent"], "step: our default"


def test_dqn_acrobot_takes_gradient_steps_minus_one_and_sac_a_linear_learning_rate(cli):
    acrobot = imported(cli, FIXTURES / "dqn.yml", "Acrobot-v1")["agent"]
    assert acrobot["gradient_steps"] == -1
    lunar = imported(cli, FIXTURES / "sac.yml", "LunarLanderContinuous-v3")["agent"]
    assert lunar["lr_schedule"] == "linear"
    assert (
        lunar["actor_learning_rate"]
        == lunar["critic_learning_rate"]
        == lunar["alpha_learning_rate"]
        == 7.3e-4
    )


@pytest.mark.parametrize(
    ("algo", "policy", "encoder"),
    [
        ("ppo", "CnnPolicy", "nature_cnn"),
        ("dqn", "CnnPolicy", "nature_cnn"),
        ("dqn", "MultiInputPolicy", None),
    ],
)
def test_cnn_and_multi_input_policies_import_where_neurenix_has_them(cli, tmp_path, algo, policy, encoder):
    entry = f"CartPole-v1:\n  n_timesteps: 4096\n  policy: {policy}\n"
    config = imported(cli, write_entry(tmp_path, entry, f"{algo}.yml"), "CartPole-v1")
    assert config["agent"].get("encoder") == encoder
    if policy == "CnnPolicy":  # SB3's heads read NatureCNN's features directly
        widths = ("hidden_dims",) if algo == "dqn" else ("actor_hidden_dims", "critic_hidden_dims")
        assert [config["agent"][key] for key in widths] == [[]] * len(widths)


@pytest.mark.parametrize("algo", ["ddpg", "td3", "sac"])
def test_a_cnn_policy_for_the_box_action_algorithms_is_nature_cnn_over_sb3s_256_256(cli, tmp_path, algo):
    entry = "Pendulum-v1:\n  n_timesteps: 4096\n  policy: CnnPolicy\n"
    config = imported(cli, write_entry(tmp_path, entry, f"{algo}.yml"), "Pendulum-v1")
    assert config["agent"]["encoder"] == "nature_cnn"
    assert config["agent"]["actor_hidden_dims"] == config["agent"]["critic_hidden_dims"] == [256, 256]
    entry += "  policy_kwargs: dict(net_arch=[64, 64])\n"
    config = imported(cli, write_entry(tmp_path, entry, f"{algo}.yml"), "Pendulum-v1")
    assert config["agent"]["actor_hidden_dims"] == config["agent"]["critic_hidden_dims"] == [64, 64]


@pytest.mark.parametrize("algo", ["dqn", "ppo"])
def test_an_atari_game_takes_the_atari_entry_with_sb3s_atari_wrapper_in_gymnasiums_and_ours(cli, algo):
    config = imported(cli, FIXTURES / f"{algo}.yml", ATARI_GAME)
    env = config["env"]
    assert env["id"] == ATARI_GAME and env["imports"] == ["ale_py"]
    assert env["wrappers"] == [
        {
            "gymnasium.wrappers.AtariPreprocessing": {
                "noop_max": 30,
                "frame_skip": 4,
                "screen_size": 84,
                "grayscale_obs": True,
                "terminal_on_life_loss": False,
            }
        },
        "neurenix.rl.atari.FireReset",
    ]
    assert env["frame_stack"] == 4  # stacked over the wrappers, each frame stored once in DQN's replay
    # life-loss episodes and clipped rewards in training only: RL Zoo's evaluations score whole games
    assert env["training_wrappers"] == [
        "neurenix.rl.atari.EpisodicLife",
        {"gymnasium.wrappers.ClipReward": {"min_reward": -1.0, "max_reward": 1.0}},
    ]
    assert config["agent"]["encoder"] == "nature_cnn"


def test_an_atari_id_without_the_usual_suffix_imports_ale_py_and_the_check_passes(cli, tmp_path):
    result = cli("zoo", "import", FIXTURES / "dqn.yml", "PongNoFrameskip-v0")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout)["env"]["imports"] == ["ale_py"]
    config = tmp_path / "config.yaml"
    config.write_text(result.stdout, encoding="utf-8")
    checked = cli("train", config, "--check")
    assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize(("game", "skip"), [("Pong-v4", "(2, 5)"), ("ALE/Pong-v5", "4")])
def test_atari_wrapper_on_a_game_that_skips_frames_itself_is_refused(cli, game, skip):
    result = cli("zoo", "import", FIXTURES / "dqn.yml", game)
    assert result.exit_code == 2, result.output
    assert f"{game} already skips {skip}" in result.stderr and "NoFrameskip-v4" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


def test_a_game_without_fire_gets_no_fire_press_and_atari_wrapper_options_carry_over(cli, tmp_path):
    entry = (
        "atari:\n  n_timesteps: 1000\n  policy: CnnPolicy\n  env_wrapper:\n"
        "    - stable_baselines3.common.atari_wrappers.AtariWrapper:\n"
        "        terminal_on_life_loss: False\n        clip_reward: False\n        frame_skip: 2\n"
    )
    env = imported(cli, write_entry(tmp_path, entry, "dqn.yml"), "FreewayNoFrameskip-v4")["env"]
    assert env["wrappers"] == [
        {
            "gymnasium.wrappers.AtariPreprocessing": {
                "noop_max": 30,
                "frame_skip": 2,
                "screen_size": 84,
                "grayscale_obs": True,
                "terminal_on_life_loss": False,
            }
        }
    ]
    assert "training_wrappers" not in env


def test_atari_wrapper_on_a_game_that_is_not_atari_is_refused(cli, tmp_path):
    entry = (
        "CartPole-v1:\n  n_timesteps: 1000\n  env_wrapper:\n"
        "    - stable_baselines3.common.atari_wrappers.AtariWrapper\n"
    )
    result = cli("zoo", "import", write_entry(tmp_path, entry, "dqn.yml"), "CartPole-v1")
    assert result.exit_code == 2 and "not one" in result.stderr and "Traceback" not in result.output


# RL Zoo 2.9.2's ppo.yml, its first two MiniGrid entries as published (comments left out): a bare class name as
# the env_wrapper and a YAML merge key.
MINIGRID_ENTRIES = """\
MiniGrid-Empty-Random-5x5-v0: &minigrid-defaults
  env_wrapper: minigrid.wrappers.FlatObsWrapper
  normalize: true
  n_envs: 8
  n_timesteps: !!float 1e5
  policy: 'MlpPolicy'
  n_steps: 128
  batch_size: 64
  gae_lambda: 0.95
  gamma: 0.99
  n_epochs: 10
  ent_coef: 0.0
  learning_rate: 2.5e-4
  clip_range: 0.2

MiniGrid-FourRooms-v0:
  <<: *minigrid-defaults
  n_timesteps: !!float 5e6
  n_steps: 512
"""


@pytest.mark.parametrize("env_id", ["MiniGrid-Empty-Random-5x5-v0", "MiniGrid-FourRooms-v0"])
def test_a_minigrid_entry_imports_minigrid_for_its_ids_and_the_check_passes(cli, tmp_path, env_id):
    result = cli("zoo", "import", write_entry(tmp_path, MINIGRID_ENTRIES), env_id)
    assert result.exit_code == 0, result.output
    config = yaml.safe_load(result.stdout)
    assert config["env"]["imports"] == ["minigrid"], "MiniGrid's ids exist once minigrid is imported"
    assert config["env"]["wrappers"] == ["minigrid.wrappers.FlatObsWrapper"]
    assert config["agent"]["n_steps"] == (512 if env_id == "MiniGrid-FourRooms-v0" else 128)
    path = tmp_path / "config.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    checked = cli("train", path, "--check")
    assert checked.exit_code == 0, checked.output


def test_an_imported_minigrid_entry_trains(cli, tmp_path):
    result = cli("zoo", "import", write_entry(tmp_path, MINIGRID_ENTRIES), "MiniGrid-Empty-Random-5x5-v0")
    assert result.exit_code == 0, result.output
    path = tmp_path / "config.yaml"
    path.write_text(result.stdout, encoding="utf-8")
    budget = ("--set", "train.total_steps=1024", "--set", "train.eval_episodes=2")  # one rollout of 8 x 128
    trained = cli("train", path, *budget, "--run-dir", tmp_path / "run", "--json")
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["status"] == "completed" and summary["total_steps"] == 1024 and summary["episodes"] > 0
