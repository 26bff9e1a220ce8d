"""A user's own env and wrappers, named by the config: env.imports, env.id `module:Env-v0`, env.wrappers.

The user's code lives outside the package, in a directory the tests write (`userpkg/envs.py` registers the env,
`userpkg/wrappers.py` holds a wrapper), and every command that must rebuild the env runs as a new process, from
another working directory where that is the point.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from clitools import TINY, run_cli, write_config

from neurenix_cli.config import json_schema, load_config, validate

ENVS = '''
import gymnasium as gym
import numpy as np


class Corridor(gym.Env):
    """Five steps to its end whatever the agent does, reward 1 each: a return of 5 per episode."""

    observation_space = gym.spaces.Box(0.0, 5.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(1, self.t, np.float32), 1.0, self.t >= 5, False, {}


gym.register("UserEnv-v0", entry_point=Corridor)
'''

WRAPPERS = """
import gymnasium as gym


class ScaleReward(gym.RewardWrapper):
    def __init__(self, env, scale=1.0):
        super().__init__(env)
        self.scale = scale

    def reward(self, reward):
        return self.scale * reward
"""

CONFIG = {
    "algorithm": "dqn",
    "env": {
        "id": "UserEnv-v0",
        "imports": ["userpkg.envs"],
        # The scale shows in every return: 10 per episode where the wrapper was applied, 5 where it was not.
        "wrappers": [
            {"userpkg.wrappers:ScaleReward": {"scale": 2.0}},
            "gymnasium.wrappers.RecordEpisodeStatistics",
        ],
    },
    "agent": {"hidden_dims": [16], "learning_starts": 50, "batch_size": 32, "buffer_size": 500},
    "train": {"total_steps": 200, "eval_every": None, "eval_episodes": 2},
}
WRAPPED_RETURN = 10.0


def write_user_code(directory: Path) -> Path:
    package = directory / "userpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "envs.py").write_text(textwrap.dedent(ENVS))
    (package / "wrappers.py").write_text(textwrap.dedent(WRAPPERS))
    return package


def assert_usage_error(proc, *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)
    assert "Traceback" not in proc.stderr and "bug in neurenix" not in proc.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A user's project: the code, a config, and one run trained by `neurenix train` inside it."""
    root = tmp_path_factory.mktemp("project")
    write_user_code(root)
    write_config(root, CONFIG, "user.yaml")
    proc = run_cli("train", "user.yaml", "--run-dir", "run", "--json", cwd=root, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["final_eval"] == WRAPPED_RETURN, "the wrapper applies to evaluation envs"
    return root


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    directory = tmp_path / "elsewhere"
    directory.mkdir()
    return directory


def test_the_run_records_what_to_import_and_from_where(project):
    recorded = yaml.safe_load((project / "run" / "config.yaml").read_text())
    assert recorded["env"]["imports"] == ["userpkg.envs"]
    assert recorded["env"]["wrappers"] == CONFIG["env"]["wrappers"]
    assert recorded["env"]["import_path"] == str(project.resolve())
    with open(project / "run" / "metrics.csv") as f:
        returns = {float(line.split(",")[2]) for line in list(f)[1:]}
    assert returns == {WRAPPED_RETURN}, "the wrapper applies to the training envs"


def test_eval_in_a_new_process_from_another_directory_rebuilds_the_wrapped_env(project, elsewhere):
    proc = run_cli("eval", project / "run", "--episodes", "3", "--json", "--no-save", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rewards"] == [WRAPPED_RETURN] * 3


def test_resume_from_another_directory_continues_on_the_same_env(project, tmp_path, elsewhere):
    run = tmp_path / "run"
    shutil.copytree(project / "run", run)
    proc = run_cli("train", "--resume", run, "--set", "train.total_steps=300", "--json", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["total_steps"] == 300 and summary["final_eval"] == WRAPPED_RETURN


def test_a_sweep_trains_the_user_env_and_its_runs_evaluate_from_elsewhere(project, tmp_path, elsewhere):
    proc = run_cli(
        "sweep",
        "user.yaml",
        "--seeds",
        "0-1",
        "--runs-root",
        tmp_path / "sweeps",
        "--json",
        cwd=project,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    runs = [run for point in json.loads(proc.stdout)["points"] for run in point["runs"]]
    assert [run["status"] for run in runs] == ["completed", "completed"]
    assert {run["final_eval"] for run in runs} == {WRAPPED_RETURN}
    proc = run_cli("eval", runs[0]["run_dir"], "--episodes", "2", "--json", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["mean_reward"] == WRAPPED_RETURN


def test_env_id_may_name_its_module(tmp_path, elsewhere):
    write_user_code(tmp_path)
    config = copy.deepcopy(CONFIG)
    config["env"] = {"id": "userpkg.envs:UserEnv-v0"}
    write_config(tmp_path, config, "user.yaml")
    proc = run_cli("train", "user.yaml", "--run-dir", "run", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("eval", tmp_path / "run", "--episodes", "2", "--json", "--no-save", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["mean_reward"] == 5.0


def test_eval_of_a_run_whose_module_was_deleted_names_it_and_the_fix(project, tmp_path, elsewhere):
    copy_of_project = tmp_path / "project"
    shutil.copytree(project, copy_of_project)
    run = copy_of_project / "run"
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    recorded["env"]["import_path"] = str(copy_of_project)
    (run / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    shutil.rmtree(copy_of_project / "userpkg")
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    proc = run_cli("eval", run, cwd=elsewhere)
    assert_usage_error(
        proc,
        f"{run / 'config.yaml'}: env.imports: module userpkg.envs cannot be imported",
        f"no userpkg in {copy_of_project} (env.import_path)",
        "set env.import_path to the directory that holds it",
    )
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before, "nothing written, nothing lost"


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("imports", ["userpkg.nosuch"], ["env.imports: module userpkg.nosuch cannot be imported"]),
        (
            "imports",
            ["nosuchpkg.envs"],
            ["env.imports: module nosuchpkg.envs cannot be imported", "no nosuchpkg"],
        ),
        (
            "wrappers",
            ["nosuchpkg.wrappers:Scale"],
            ["env.wrappers: module nosuchpkg.wrappers cannot be imported", "pip install -e ."],
        ),
        ("wrappers", ["userpkg.wrappers:Scale"], ["module userpkg.wrappers has no 'Scale'"]),
        (
            "wrappers",
            [{"userpkg.wrappers.ScaleReward": {"factor": 2}}],
            ["could not wrap UserEnv-v0", "unexpected keyword argument 'factor'"],
        ),
        (
            "wrappers",
            ["ScaleReward"],
            ["'ScaleReward' (a string) is not a wrapper class name", "module:Class"],
        ),
        ("imports", ["user pkg"], ["'user pkg' (a string) is not a module name"]),
        ("wrappers", ["builtins:len"], ["builtins:len could not wrap UserEnv-v0", "TypeError"]),
        ("wrappers", ["builtins.repr"], ["builtins.repr returned", "not a gymnasium env"]),
    ],
)
def test_check_imports_the_code_and_refuses_what_cannot_be_found(tmp_path, key, value, words):
    write_user_code(tmp_path)
    config = copy.deepcopy(CONFIG)
    config["env"][key] = value
    write_config(tmp_path, config, "user.yaml")
    proc = run_cli("train", "user.yaml", "--check", cwd=tmp_path)
    assert_usage_error(proc, "user.yaml: env.", *words)
    assert proc.stdout == "" and not (tmp_path / "runs").exists()


def test_check_fails_where_the_code_is_not_importable_and_passes_where_it_is(tmp_path, elsewhere):
    write_user_code(tmp_path)
    config = write_config(tmp_path, CONFIG, "user.yaml")
    assert run_cli("train", config, "--check", cwd=tmp_path).returncode == 0
    assert_usage_error(run_cli("train", config, "--check", cwd=elsewhere), "no userpkg in " + str(elsewhere))
    proc = run_cli("train", config, "--check", "--set", f"env.import_path={tmp_path}", cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr


def test_the_resolved_env_block_is_a_fixed_point(tmp_path, monkeypatch):
    write_user_code(tmp_path)
    monkeypatch.chdir(tmp_path)
    config = copy.deepcopy(CONFIG)
    config["env"]["wrappers"] = [
        {"userpkg.wrappers:ScaleReward": None},
        {"userpkg.wrappers:ScaleReward": {"scale": 3}},
    ]
    resolved = load_config(write_config(tmp_path, config, "user.yaml"))
    assert resolved["env"]["wrappers"] == [
        "userpkg.wrappers:ScaleReward",
        {"userpkg.wrappers:ScaleReward": {"scale": 3}},
    ]
    assert resolved["env"]["import_path"] == str(tmp_path)
    assert validate(copy.deepcopy(resolved)) == resolved
    validator = jsonschema.Draft202012Validator(json_schema())
    assert [e.message for e in validator.iter_errors(resolved)] == [], "`neurenix schema` knows the keys"
    resolved["env"]["wrappers"] = [{"a:B": {}, "c:D": {}}]
    assert list(validator.iter_errors(resolved)), "one wrapper per entry"


def test_a_config_that_names_no_code_records_no_import_path(tmp_path):
    env = load_config(write_config(tmp_path, TINY))["env"]
    assert env["imports"] == [] and env["wrappers"] == [] and env["import_path"] is None


def test_a_run_made_before_these_keys_still_evaluates(tmp_path, trained_run):
    run = tmp_path / "old"
    shutil.copytree(trained_run, run)
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    for key in ("imports", "wrappers", "import_path"):
        recorded["env"].pop(key)
    (run / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
    proc = run_cli("eval", run, "--episodes", "1", "--json", "--no-save")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["env_id"] == "CartPole-v1"


# ----------------------------------------------------- env.training_wrappers: training only, evaluation on the real env
def test_training_wrappers_shape_training_alone_and_evaluation_sees_the_real_rewards(cli, tmp_path):
    config = copy.deepcopy(TINY)
    config["env"]["training_wrappers"] = [
        {"gymnasium.wrappers.ClipReward": {"min_reward": -0.25, "max_reward": 0.25}}
    ]
    config["train"].update({"total_steps": 600, "eval_every": 300, "eval_episodes": 2})
    run = tmp_path / "run"
    result = cli("train", write_config(tmp_path, config), "--run-dir", run, "--quiet")
    assert result.exit_code == 0, result.output
    episodes = [row.split(",") for row in (run / "metrics.csv").read_text().splitlines()[1:]]
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    returns = [float(row[header.index("return")]) for row in episodes]
    lengths = [int(row[header.index("length")]) for row in episodes]
    assert returns == [0.25 * length for length in lengths], "training saw the clipped rewards"
    evaluated = json.loads(cli("eval", run, "--episodes", 3, "--json").stdout)
    rewards = evaluated["rewards"]
    assert min(rewards) >= 8 and all(float(r).is_integer() for r in rewards), (
        "evaluation: 1 a step, unclipped"
    )
    recorded = yaml.safe_load((run / "config.yaml").read_text())["env"]
    assert recorded["training_wrappers"] == config["env"]["training_wrappers"] and recorded["wrappers"] == []


def test_a_training_wrapper_that_changes_the_spaces_is_refused(cli, tmp_path):
    config = copy.deepcopy(TINY)
    config["env"]["training_wrappers"] = ["gymnasium.wrappers.TimeAwareObservation"]
    result = cli("train", write_config(tmp_path, config), "--check")
    assert result.exit_code == 2, result.output
    assert "env.training_wrappers" in result.stderr and "observation space" in result.stderr
    assert "Traceback" not in result.output


def test_a_missing_registering_package_names_the_extra_that_installs_it(cli, tmp_path, monkeypatch):
    class NoMiniGrid:  # a venv without `neurenix[minigrid]`
        def find_spec(self, name, path=None, target=None):
            if name == "minigrid":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.delitem(sys.modules, "minigrid", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoMiniGrid(), *sys.meta_path])
    config = {"algorithm": "ppo", "env": {"id": "MiniGrid-Empty-5x5-v0", "imports": ["minigrid"]}}
    write_config(tmp_path, config, "grid.yaml")
    result = cli("train", tmp_path / "grid.yaml", "--check")
    assert result.exit_code == 2, result.output
    assert "env.imports: module minigrid cannot be imported: minigrid is not installed" in result.stderr
    assert "pip install 'neurenix[minigrid]'" in result.stderr and "Traceback" not in result.output
