"""SIGINT/SIGTERM during training: the first asks the loop to stop after the current update (then
checkpoints/last is saved), a second stops at once."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from neurenix_cli.reporting import Reporter


class Signals:
    def __init__(self, reporter: Reporter):
        self.reporter = reporter
        self.stop_signal: int | None = None  # the first signal received, if any

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        """Install the handlers for the duration of the loop. Only the main thread can install handlers:
        elsewhere signals keep their usual meaning."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)

    def _handler(self, signum: int, frame: Any) -> None:
        if self.stop_signal is not None:
            exc = KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopping at once")
            exc.signum = signum  # type: ignore[attr-defined]
            raise exc
        self.stop_signal = signum
        with contextlib.suppress(Exception):
            self.reporter.event(
                f"{signal.Signals(signum).name} received: finishing the current update, then saving "
                "checkpoints/last (send it again to stop at once)"
            )
