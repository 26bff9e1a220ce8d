"""SIGINT/SIGTERM during a session: the first asks the loop to stop after the current update (then
checkpoints/last is saved), a second stops at once, and any later one is ignored while the session writes
its summary and closes its files.

Once the loop has returned there is no update left to finish: a signal during the final save or evaluation
stops at once, like a second one during the loop. "At once" waits for a checkpoint being written
(`deferred`): a KeyboardInterrupt inside zipfile leaves the archive half closed, and zipfile answers with
errors of its own, one of them printed at exit. The swap into place is atomic either way; the wait is the
few seconds a save takes. Whatever else the stop interrupts may surface as another exception:
`interrupted_by` tells the session the stop was asked for all the same."""

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
        self.stop_signal: int | None = None  # the first signal received during the loop, if any
        self.interrupted_by: int | None = None  # the signal that stopped the session at once, if any
        self._phase = "loop"  # then "after_loop" (a signal stops at once), then "closing" (signals ignored)
        self._writing: str | None = None  # what `deferred` protects, while it does
        self._pending: int | None = None  # a stop at once that waits for it

    @contextlib.contextmanager
    def handled(self) -> Iterator[None]:
        """Install the handlers for the duration of the session. Only the main thread can install handlers:
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

    @contextlib.contextmanager
    def deferred(self, writing: str) -> Iterator[None]:
        """A stop at once asked for inside this block happens as the block ends."""
        self._writing = writing
        try:
            yield
        finally:
            self._writing = None
            pending, self._pending = self._pending, None
            if pending is not None:
                self._stop_at_once(pending)

    def loop_finished(self) -> None:
        """From now on a signal stops at once: the loop that could finish its update has returned."""
        self._phase = "after_loop"

    def closing(self) -> None:
        """From now on signals are ignored: the session's outcome is decided and only closing files remains."""
        self._phase = "closing"

    def _handler(self, signum: int, frame: Any) -> None:
        if self._phase == "closing":
            return
        if self.stop_signal is None and self._phase == "loop":
            self.stop_signal = signum
            with contextlib.suppress(Exception):
                self.reporter.event(
                    f"{signal.Signals(signum).name} received: finishing the current update, then saving "
                    "checkpoints/last (send it again to stop at once)"
                )
            return
        if self._writing is not None:
            self._pending = signum
            with contextlib.suppress(Exception):
                self.reporter.event(
                    f"{signal.Signals(signum).name} received: stopping once {self._writing} is written"
                )
            return
        self._stop_at_once(signum)

    def _stop_at_once(self, signum: int) -> None:
        self.interrupted_by = signum
        self.closing()  # stopping at once: a further signal must not cut the summary short
        exc = KeyboardInterrupt(f"{signal.Signals(signum).name}: stopping at once")
        exc.signum = signum  # type: ignore[attr-defined]
        raise exc
