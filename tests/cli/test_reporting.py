"""Progress output: plain lines at a steady interval, the Rich live view, silence for --quiet/--json."""

from __future__ import annotations

import io

from neurenix_cli.reporting import PlainReporter, Progress, Reporter, RichReporter, format_line, make_reporter


def progress(**kw) -> Progress:
    base = dict(
        algorithm="dqn",
        env_id="CartPole-v1",
        run_dir="runs/x",
        step_budget=1000,
        total_steps=250,
        episodes=12,
        rate_s=2.0,
        mean_return=21.5,
        latest_eval=30.0,
        latest_eval_step=200,
        best_eval=31.0,
        losses={"epsilon": 0.5, "loss": 0.125},
    )
    return Progress(**{**base, **kw})


def test_plain_line_has_budget_rate_eta_returns_eval_and_losses():
    line = format_line(progress())
    for text in (
        "step 250/1,000 (25%)",
        "episodes 12",
        "return(100) 21.50",
        "eval 30.00 (best 31.00)",
        "125 steps/s",
        "ETA 0:06",
        "loss 0.125",
    ):
        assert text in line, (text, line)
    assert line.index("loss") < line.index("epsilon"), "losses come before other diagnostics"


def test_eta_counts_only_this_sessions_progress():
    resumed = progress(rate_start_steps=200, total_steps=250, rate_s=1.0)  # 50 steps/s, 750 to go
    assert resumed.steps_per_s == 50 and round(resumed.eta_s) == 15


def test_no_rate_or_eta_before_one_is_measured():
    for unmeasured in (progress(rate_s=None), progress(rate_start_steps=250, rate_s=0.5)):
        assert unmeasured.steps_per_s is None and unmeasured.eta_s is None
        assert "| - steps/s | ETA - |" in format_line(unmeasured)


def test_plain_reporter_writes_at_a_steady_interval():
    now = [0.0]
    out = io.StringIO()
    reporter = PlainReporter(out, interval_s=10, clock=lambda: now[0])
    reporter.start(progress(), "training")
    for t in range(1, 26):  # 25 seconds of frequent updates
        now[0] = float(t)
        reporter.update(progress())
    reporter.event("step 200: eval 30")
    reporter.finish(progress(), "completed")
    lines = out.getvalue().splitlines()
    assert [line.split(" ", 2)[2][:8] for line in lines] == [
        "training",
        "step 250",
        "step 250",
        "step 200",
        "step 250",
        "complete",
    ]


def test_rich_view_renders_the_live_figures():
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    reporter = RichReporter(console)
    reporter.start(progress(), "training dqn")
    reporter.update(progress(total_steps=500))
    reporter.finish(progress(total_steps=1000), "completed")
    text = buffer.getvalue()
    for piece in ("training dqn", "steps/s", "return(100)", "best 31.00", "loss 0.125", "completed"):
        assert piece in text, piece


def test_make_reporter_chooses_by_terminal_and_quiet():
    assert type(make_reporter(quiet=True)) is Reporter
    assert isinstance(make_reporter(stream=io.StringIO()), PlainReporter)
