"""Speed of this checkout against another (a baseline commit), alternating the two in one run.

    python benchmarks/compare_trees.py --baseline DIR [--rounds 2] [--only SUBSTRING] [--seeds 0] [--json PATH]

DIR is a checkout of the baseline with its C module built (e.g. `git worktree add DIR COMMIT` and then
`python setup.py build_ext --inplace` there, or `make install` in it). Each round runs `benchmarks/engine.py`
and `benchmarks/speed.py` (ours only) of each tree in its own processes with that tree first on PYTHONPATH, the
trees in alternating order, so that drift in the machine's load hits both alike. The report gives each case's
median per tree and their ratio (this tree / baseline): 1.00 is the same speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def run_tree(tree: Path, script: str, args: list[str]) -> list[dict]:
    """Run `tree`'s benchmarks/<script> with that tree's packages; return the rows of its --json file."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "rows.json"
        env = {**os.environ, "PYTHONPATH": str(tree)}
        command = [sys.executable, str(tree / "benchmarks" / script), *args, "--json", str(out)]
        subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", default=None, help="speed.py tasks whose name contains this")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": HERE}
    times: dict[str, dict[str, list[float]]] = {}
    speed_args = ["--seeds", args.seeds, *(["--only", args.only] if args.only else [])]
    for round_ in range(args.rounds):
        for label in sorted(trees, reverse=round_ % 2 == 1):
            for row in run_tree(trees[label], "engine.py", ["--repeats", "3"]):
                times.setdefault(f"engine: {row['case']}", {}).setdefault(label, []).append(row["engine_us"])
            for row in run_tree(trees[label], "speed.py", speed_args):
                times.setdefault(f"train: {row['task']}", {}).setdefault(label, []).append(
                    row["ours_median_s"]
                )
            print(f"round {round_ + 1}: {label} done", flush=True)
    report = []
    print(f"{'case':48s} {'baseline':>10s} {'this':>10s} {'ratio':>6s}")
    for case, sides in times.items():
        if set(sides) != set(trees):
            continue
        old, new = statistics.median(sides["baseline"]), statistics.median(sides["this"])
        report.append(
            {"case": case, "baseline": sides["baseline"], "this": sides["this"], "ratio": new / old}
        )
        print(f"{case:48s} {old:10.1f} {new:10.1f} {new / old:6.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
