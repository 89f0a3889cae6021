"""A management command that a first Ctrl-C stops between units of work, and a second at once.

``sweep_storage`` stops between listing pages and ``rerender_images`` between images, so a long
run can be interrupted without leaving half a unit behind, then resumed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand


class StoppableCommand(BaseCommand):
    """Set ``unit`` to what finishes after the first Ctrl-C; read ``stopping`` between units."""

    unit = "the current step"
    stopping = False

    @contextmanager
    def graceful_interrupt(self) -> Iterator[None]:
        """Within the block, Ctrl-C sets ``stopping``; signals only reach the main thread."""
        self.stopping = False
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _stop(self, signum, frame) -> None:
        if self.stopping:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stopping = True
        self.stderr.write(f"Stopping after {self.unit} (Ctrl-C again to stop now)…")
