"""`neurenix list [algorithms|configs|runs]`: what can be trained, with which configs, and what has been."""

from __future__ import annotations

import enum
import json
import time
from pathlib import Path
from typing import Annotated

import typer

from neurenix_cli.numbers import thousands


class What(str, enum.Enum):
    algorithms = "algorithms"
    configs = "configs"
    runs = "runs"


def list_(
    what: Annotated[
        What | None, typer.Argument(show_default=False, help="What to list (default: all three).")
    ] = None,
    configs_dir: Annotated[
        Path, typer.Option("--configs-dir", metavar="DIR", help="Where configs are.")
    ] = Path("configs"),
    runs_root: Annotated[Path, typer.Option("--runs-root", metavar="DIR", help="Where runs are.")] = Path(
        "runs"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """List algorithms, configs and runs (all three by default).

    Algorithms with the action spaces each supports; configs with their algorithm and env; runs (those of
    sweeps included) with status, steps, best eval and age.
    """
    from neurenix_cli.reporting import print_listing

    sections = [what] if what is not None else list(What)
    out = {}
    for section in sections:
        if section is What.algorithms:
            out["algorithms"] = algorithms()
        elif section is What.configs:
            out["configs"] = configs(configs_dir)
        else:
            out["runs"] = runs_in(runs_root)
    if as_json:
        typer.echo(json.dumps(out))
        return
    if "algorithms" in out:
        print_listing(
            "algorithms",
            ["name", "action spaces", "action masks", "class"],
            [
                [a["name"], ", ".join(a["action_spaces"]), "yes" if a["action_masks"] else "no", a["class"]]
                for a in out["algorithms"]
            ],
        )
    if "configs" in out:
        print_listing(
            f"configs in {configs_dir}",
            ["file", "algorithm", "env", "budget"],
            [
                [c["file"], c["algorithm"] or "-", c["env"] or "-", c["budget"] or c.get("error") or "-"]
                for c in out["configs"]
            ],
            empty="no *.yaml files",
        )
    if "runs" in out:
        print_listing(
            f"runs in {runs_root}",
            ["run", "status", "steps", "best eval", "age"],
            [
                [
                    r["run"],
                    r["status"],
                    thousands(r["total_steps"]),
                    f"{r['best_eval']:.2f}" if r["best_eval"] is not None else "-",
                    _age(r["age_s"]),
                ]
                for r in out["runs"]
            ],
            empty="no runs yet",
        )


def algorithms() -> list[dict]:
    from neurenix.rl import registry  # the engine loads only here, so `list runs` stays instant

    return [
        {
            "name": name,
            "action_spaces": list(registry.get(name).action_space_types),
            "action_masks": registry.get(name).masks_actions,
            "class": registry.get(name).__name__,
        }
        for name in registry.names()
    ]


def configs(directory: Path) -> list[dict]:
    """Each YAML file's algorithm, env and budget, read without validating (a broken file shows its error,
    a key given twice included: `train` would refuse the file, so the listing must not show what it reads)."""
    import yaml

    from neurenix_cli import unique_yaml

    out = []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []
    for path in files:
        entry = {"file": str(path), "algorithm": None, "env": None, "budget": None}
        try:
            data = unique_yaml.load(path.read_text(encoding="utf-8"))
        except unique_yaml.DuplicateKeyError as exc:
            entry["error"] = f"duplicate key {exc.key} ({exc.places})"
            out.append(entry)
            continue
        except (OSError, yaml.YAMLError) as exc:
            entry["error"] = f"unreadable: {type(exc).__name__}"
            out.append(entry)
            continue
        if isinstance(data, dict):
            env = data.get("env")
            train = data.get("train") if isinstance(data.get("train"), dict) else {}
            entry["algorithm"] = data.get("algorithm")
            entry["env"] = env.get("id") if isinstance(env, dict) else None
            if train.get("total_steps") is not None:
                entry["budget"] = f"{_count(train['total_steps'])} steps"
            elif train.get("episodes") is not None:
                entry["budget"] = f"{_count(train['episodes'])} episodes"
        out.append(entry)
    return out


def _count(value: object) -> str:
    """A budget as the config writes it, with separators when it is a whole number (YAML 1.1 reads `1e4` as a
    string; training takes it as 10,000). Read here without the config package, which loads the engine."""
    try:
        number = float(str(value).replace("_", ""))
    except ValueError:
        return str(value)
    return thousands(number) if number.is_integer() else str(value)


def runs_in(root: Path) -> list[dict]:
    from neurenix_cli import runs

    now = time.time()
    out = []
    for path in runs.find_runs(root, into_sweeps=True):
        summary = runs.read_summary(path) or {}
        stamp = path / runs.SUMMARY_NAME if (path / runs.SUMMARY_NAME).exists() else path
        out.append(
            {
                "run": str(path),
                "status": runs.run_status(path, summary or None),
                "algorithm": summary.get("algorithm"),
                "env_id": summary.get("env_id"),
                "total_steps": summary.get("total_steps"),
                "best_eval": summary.get("best_eval"),
                "age_s": round(now - stamp.stat().st_mtime, 1),
            }
        )
    return out


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
