"""One measurement in a fresh process: ``python -m benchmarks.child '<json>'``.

Order: imports and setup, read the input, one warm-up call on the same input (first-call
costs a long-running server never pays again: plugin loading, libvips' operation lookup and
buffers, thread pools, the allocator's arenas; every method, the floor included, gets it),
then the baseline, then the one measured call. The last line printed is ``RESULT {json}``.

Peak memory is resident memory (RSS), not tracemalloc, which sees only Python's own
allocations and none of libjpeg's, zlib's or libvips' buffers. Linux's high-water mark
(VmHWM) is reset just before the call (``/proc/PID/clear_refs``), with the freed heap first
handed back to the kernel (``malloc_trim``), so the figure is the call's own growth above
the process as it stood; where the reset is not allowed, ``ru_maxrss`` stands in for it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path

from .methods import METHODS, Context, Unavailable

PREFIX = "RESULT "


class Memory:
    """Peak resident memory of a process above its level at ``reset()``, in bytes."""

    def __init__(self, pid: int | None = None):
        self.proc = Path(f"/proc/{pid or 'self'}")
        self.own = pid is None
        self.exact = True
        self.base = 0

    def reset(self) -> None:
        try:
            (self.proc / "clear_refs").write_text("5")
        except OSError:
            self.exact = False
        if self.exact:
            self.base = self._status("VmRSS")
        elif self.own:
            self.base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def peak(self) -> int | None:
        if self.exact:
            return self._status("VmHWM") - self.base
        if self.own:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - self.base
        return None

    def _status(self, key: str) -> int:
        for line in (self.proc / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process, from /proc (clock-tick resolution)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def trim_heap() -> None:
    """Give freed malloc memory back to the kernel, so old free space can't hide new growth."""
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(libc).malloc_trim(0)


def measure(spec: dict) -> dict:
    method = METHODS[spec["method"]]
    ctx = Context(
        input=spec["input"],
        workdir=Path(spec["workdir"]),
        refs=Path(spec["refs"]) if spec.get("refs") else None,
        options=spec.get("options", {}),
    )
    try:
        method.setup(ctx)
    except Unavailable as exc:
        return {"unavailable": str(exc)}
    data = Path(spec["path"]).read_bytes()
    warm_up = method.prepare(data, "warmup")
    warm_up.collect(warm_up.run())
    job = method.prepare(data, "main")
    server = ctx.options.get("pid")  # the HTTP method: the work happens in the server worker
    memory = Memory(server)
    gc.collect()
    trim_heap()
    memory.reset()
    cpu_start = time.process_time() + (cpu_seconds(server) if server else 0.0)
    start = time.perf_counter()
    result = job.run()
    wall = time.perf_counter() - start
    cpu = time.process_time() + (cpu_seconds(server) if server else 0.0) - cpu_start
    peak = memory.peak()
    outputs = job.collect(result)
    saved = {}
    if spec.get("save"):
        directory = Path(spec["save"])
        directory.mkdir(parents=True, exist_ok=True)
        for name, payload in outputs:
            saved[name] = str(directory / name)
            Path(saved[name]).write_bytes(payload)
    return {
        "wall": wall,
        "cpu": cpu,
        "peak": peak,
        "peak_exact": memory.exact,
        "bytes": sum(len(payload) for _, payload in outputs),
        "count": len(outputs),
        "outputs": saved,
    }


def main() -> None:
    spec = json.loads(sys.argv[1])
    try:
        result = measure(spec)
    except Exception as exc:  # reported in the table, not a crash of the whole run
        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    sys.stdout.flush()
    print(PREFIX + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
