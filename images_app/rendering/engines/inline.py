"""An executor that runs each job on the caller's thread: a render with no encode pool.

``BaseEngine.render(threads=1)`` uses it, so one render is one thread from decode to the last
encode: what a Celery worker process wants, where the worker processes are the parallelism
(``IMAGES_APP["WORKER_RENDER_THREADS"]``).
"""

from __future__ import annotations

from concurrent.futures import Future


class InlineExecutor:
    """``submit`` runs the job at once and returns its finished Future; an exception raises
    from ``submit`` itself, so a failed encode stops the render before the next resize."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing runs in the background: nothing to wait for or cancel."""
