"""The loop's reporting callbacks: `verbose=True`'s progress line."""

from __future__ import annotations

from neurenix.rl.callbacks import ProgressPrinter
from neurenix_cli.numbers import thousands


def printed_lines(episodes: int, steps: int) -> list[str]:
    lines: list[str] = []
    printer = ProgressPrinter(every_s=0.0, print_fn=lines.append)
    printer.on_train_start(agent=None)
    printer.on_episode_end({"episode": episodes, "total_steps": steps, "reward": 1.0})
    printer.on_train_end({"episodes": episodes, "total_steps": steps})
    return lines


def test_verbose_lines_write_counts_with_thousands_separators_as_the_cli_does():
    lines = printed_lines(episodes=1234, steps=1_234_567)
    assert len(lines) == 2 and lines[-1].endswith(" done")
    for line in lines:
        assert line.startswith("episode 1,234 steps 1,234,567 mean_reward_100 1.00 steps/s ")
    # The library formats with f"{n:,}" (it never imports the CLI); the CLI's one rule must agree.
    assert f"steps {thousands(1_234_567)} " in lines[0] and f"episode {thousands(1234)} " in lines[0]
