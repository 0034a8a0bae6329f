"""Measuring probes for the scale benchmarks: event-loop lag, GC pauses, RSS and CPU, allocations.

Used in process by ``bench/scale.py``'s client workers, and inside the bridge process through
``bench/_probe_site/sitecustomize.py`` (which the benchmark puts on the bridge's ``PYTHONPATH``
together with ``MSN_SCALE_PROBE=<file>``): the probe then writes its figures to that file
every second, and resets its maxima on ``SIGUSR1`` (the start of a new measurement window).

* :class:`LoopLag` — a ticker task that sleeps ``interval`` seconds and records how late it
  woke up: the longest stretch the event loop did not run it (GC, long callbacks, ...).
* :class:`GCPauses` — ``gc.callbacks`` timing of every collection, per generation.
* :func:`rss_kib` / :func:`cpu_seconds` — from ``/proc`` (this process or another).
* :func:`top_allocations` — tracemalloc difference between two snapshots, by file and line.
* :func:`heap_kib` — what the process's two allocators hold: Python's small-object arenas
  (blocks in use, free blocks kept in them) and the C library's heap (in use, free but kept).

In the bridge, the garbage collector's policy is the bridge's own (``bridge.gc``,
:mod:`bridge.gc_policy`): the probe only reports its thresholds and how much is frozen.
"""

from __future__ import annotations

from typing import Any
from pathlib import Path
import asyncio
import ctypes
import ctypes.util
import gc
import json
import os
import re
import resource
import sys
import tempfile
import time
import tracemalloc

__all__ = [
    "GCPauses",
    "LoopLag",
    "cpu_seconds",
    "heap_kib",
    "raise_fd_limit",
    "rss_kib",
    "top_allocations",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size in KiB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def raise_fd_limit() -> int:
    """Raise the open-file limit to its hard maximum; returns the new soft limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class LoopLag:
    """How late a ticker sleeping ``interval`` seconds wakes up (max, and counts over limits),
    and how much CPU the loop's thread used between two ticks (``cpu_max_ms``): the longest
    stretch of work that held the loop, which, unlike the lateness, a busy machine's preemption
    does not stretch."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval = interval
        self.task: asyncio.Task[None] | None = None
        self.reset()

    def reset(self) -> None:
        self.max = 0.0
        self.ticks = 0
        self.over_20ms = 0
        self.over_50ms = 0
        self.over_100ms = 0
        self.cpu_max = 0.0
        self.cpu_over_50ms = 0

    def start(self) -> None:
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="probe-lag")

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            cpu0 = time.thread_time()
            await asyncio.sleep(self.interval)
            late = loop.time() - due
            cpu = time.thread_time() - cpu0
            if cpu > self.cpu_max:
                self.cpu_max = cpu
            if cpu > 0.05:
                self.cpu_over_50ms += 1
            self.ticks += 1
            if late > self.max:
                self.max = late
            if late > 0.02:
                self.over_20ms += 1
                if late > 0.05:
                    self.over_50ms += 1
                    if late > 0.1:
                        self.over_100ms += 1

    def figures(self) -> dict[str, Any]:
        return {
            "max_ms": round(self.max * 1000, 2),
            "ticks": self.ticks,
            "over_20ms": self.over_20ms,
            "over_50ms": self.over_50ms,
            "over_100ms": self.over_100ms,
            "cpu_max_ms": round(self.cpu_max * 1000, 2),
            "cpu_over_50ms": self.cpu_over_50ms,
        }


class GCPauses:
    """Every garbage collection's duration, per generation (through ``gc.callbacks``): the
    pause (wall clock) and the CPU it took (this thread's CPU time: a shared machine's
    preemption does not count)."""

    def __init__(self) -> None:
        self._started = self._started_cpu = 0.0
        self.reset()

    def reset(self) -> None:
        self.count = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.max = [0.0, 0.0, 0.0]
        self.cpu = 0.0
        self.cpu_max = [0.0, 0.0, 0.0]
        self.collected = 0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._started_cpu = time.thread_time()
            return
        cpu = time.thread_time() - self._started_cpu
        self.cpu += cpu
        spent = time.perf_counter() - self._started
        generation = info["generation"]
        if cpu > self.cpu_max[generation]:
            self.cpu_max[generation] = cpu
        self.count[generation] += 1
        self.total[generation] += spent
        if spent > self.max[generation]:
            self.max[generation] = spent
        self.collected += info.get("collected", 0)

    @property
    def seconds(self) -> float:
        return sum(self.total)

    def figures(self) -> dict[str, Any]:
        return {
            "collections": self.count,
            "seconds": [round(t, 4) for t in self.total],
            "max_ms": [round(m * 1000, 2) for m in self.max],
            "total_s": round(self.seconds, 4),
            "cpu_s": round(self.cpu, 4),
            "cpu_max_ms": [round(m * 1000, 2) for m in self.cpu_max],
            "collected": self.collected,
        }


class GCWhy:
    """What slow collections scanned (``MSN_SCALE_PROBE_GC_WHY=<ms>``; a diagnosis, not a figure:
    it walks every object of the collected generations before each collection, about doubling
    the collector's time). For each collection longer than ``over_ms``: its generation, the
    objects and references it had to visit, and the containers with the most references."""

    def __init__(self, over_ms: float = 20.0, top: int = 5) -> None:
        self.over_ms, self.top = over_ms, top
        self.found: list[dict[str, Any]] = []
        self._pending: tuple[int, int, list[tuple[int, Any]]] | None = None
        self._started = 0.0

    def install(self) -> None:
        gc.callbacks.insert(0, self._callback)  # (before the pause is timed by GCPauses)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            objects = references = 0
            biggest: list[tuple[int, Any]] = []
            for generation in range(info["generation"] + 1):
                for obj in gc.get_objects(generation):
                    count = len(gc.get_referents(obj))
                    objects += 1
                    references += count
                    if count > 1000 and (len(biggest) < self.top or count > biggest[-1][0]):
                        biggest.append((count, obj))
                        biggest.sort(key=lambda pair: -pair[0])
                        del biggest[self.top :]
            self._pending = (objects, references, biggest)
            self._started = time.perf_counter()
            return
        spent = (time.perf_counter() - self._started) * 1000
        pending, self._pending = self._pending, None
        if pending is None or spent < self.over_ms:
            return
        objects, references, biggest = pending
        self.found.append(
            {
                "ms": round(spent, 1),
                "generation": info["generation"],
                "objects": objects,
                "references": references,
                "biggest": [[count, _describe(obj)] for count, obj in biggest],
            }
        )
        del self.found[:-20]


def _describe(obj: Any) -> str:
    kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
    try:
        if isinstance(obj, dict):
            items = list(obj.items())[:2]
            shown = ", ".join(f"{str(k)[:50]!r}: {type(v).__qualname__}" for k, v in items)
            return f"{kind} len {len(obj)} {{{shown}}}"
        if isinstance(obj, (list, tuple, set, frozenset)):
            first = [type(x).__qualname__ for x in list(obj)[:3]]
            return f"{kind} len {len(obj)} of {first}"
        return f"{kind} {repr(obj)[:80]}"
    except Exception as e:  # (a diagnosis: any object)
        return f"{kind} ({type(e).__name__})"


def top_allocations(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, limit: int = 15
) -> list[dict[str, Any]]:
    """Where memory grew between two snapshots, by file:line (the biggest first)."""
    ignore = (
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, __file__),
    )
    stats = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "lineno")
    out = []
    for stat in stats[:limit]:
        frame = stat.traceback[0]
        out.append(
            {
                "where": f"{_short(frame.filename)}:{frame.lineno}",
                "kib": round(stat.size_diff / 1024, 1),
                "count": stat.count_diff,
            }
        )
    return out


_REPO = str(Path(__file__).resolve().parent.parent) + os.sep


def per_user_allocations(
    small: tuple[int, Path], large: tuple[int, Path], limit: int = 25, mark: str = "/bridge/"
) -> dict[str, list[tuple[str, float, float]]]:
    """What one more user holds: the difference between two snapshots of the same program
    holding ``small[0]`` and ``large[0]`` users (files written by :meth:`Snapshot.dump`),
    divided by the difference in users, so that what every process holds (imports, caches)
    cancels out. Each allocation is put down to the innermost frame of its traceback in a
    file whose path holds ``mark`` (the code that asked for it; it needs tracebacks of several
    frames, ``PYTHONTRACEMALLOC=8``), or to its own site. Returns ``by_file`` and ``by_line``
    rows ``(where, bytes per user, blocks per user)``, the largest first, and ``total``."""
    counts: list[dict[str, list[float]]] = []
    for _, path in (small, large):
        snapshot = tracemalloc.Snapshot.load(str(path))
        found: dict[str, list[float]] = {}
        for trace in snapshot.traces:
            frames = list(trace.traceback)  # (oldest first)
            frame = next((f for f in reversed(frames) if mark in f.filename), frames[-1])
            where = f"{_short(frame.filename.removeprefix(_REPO))}:{frame.lineno}"
            row = found.setdefault(where, [0.0, 0.0])
            row[0] += trace.size
            row[1] += 1
        counts.append(found)
    users = large[0] - small[0]
    before, after = counts
    lines: dict[str, tuple[float, float]] = {}
    for where in before.keys() | after.keys():
        (size_a, blocks_a), (size_b, blocks_b) = (c.get(where, (0.0, 0.0)) for c in counts)
        lines[where] = ((size_b - size_a) / users, (blocks_b - blocks_a) / users)
    files: dict[str, list[float]] = {}
    for where, (size, blocks) in lines.items():
        row = files.setdefault(where.rpartition(":")[0], [0.0, 0.0])
        row[0] += size
        row[1] += blocks
    total = sum(size for size, _ in lines.values())
    return {
        "by_file": sorted(((w, r[0], r[1]) for w, r in files.items()), key=lambda r: -r[1])[
            :limit
        ],
        "by_line": sorted(((w, s, b) for w, (s, b) in lines.items()), key=lambda r: -r[1])[:limit],
        "total": [("all", total, 0.0)],
    }


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
            "fordblks", "keepcost",
        )
    ]  # fmt: skip


def heap_kib() -> dict[str, float]:
    """KiB held by this process's allocators: ``pymalloc_*`` from CPython's own statistics
    (``sys._debugmallocstats``: arenas of small objects, the blocks in use and the free blocks
    those arenas keep) and ``malloc_*`` from glibc's ``mallinfo2`` (larger objects and C
    libraries: in use, free but kept, and mmapped chunks). Empty where unavailable."""
    out: dict[str, float] = {}
    with tempfile.TemporaryFile("w+") as f:  # (it prints to the C stderr)
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(f.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    figures = {
        "pymalloc_arenas": r"# arenas allocated current\s*=\s*([\d,]+)",
        "pymalloc_in_use": r"# bytes in allocated blocks\s*=\s*([\d,]+)",
        "pymalloc_free": r"# bytes in available blocks\s*=\s*([\d,]+)",
        "pymalloc_unused_pools": r"\d+ unused pools \* \d+ bytes\s*=\s*([\d,]+)",
    }
    for key, pattern in figures.items():
        found = re.search(pattern, text)
        if found:
            value = int(found.group(1).replace(",", ""))
            out[key] = value if key == "pymalloc_arenas" else round(value / 1024, 1)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return out
    out["malloc_in_use"] = round((info.uordblks + info.hblkhd) / 1024, 1)
    out["malloc_free"] = round(info.fordblks / 1024, 1)
    out["malloc_mmapped"] = round(info.hblkhd / 1024, 1)
    return out


def _short(filename: str) -> str:
    for marker in ("/site-packages/", "/lib/python3", "/work/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# -- inside the bridge process -----------------------------------------------------------------
class LongCallbacks:
    """The longest single callbacks the loop ran (the time each took, and the task or
    function it belonged to): what tells one long piece of work, which stalls the loop by
    itself, from many short ones that were ready at the same moment (a busy loop runs every
    ready callback before it looks at its timers again, so a ticker is late either way).

    Timed by the wall clock (``perf_counter``, read in user space): this thread's CPU clock
    is a system call (about 1 µs here), and two per callback made the probe about a tenth of
    the bridge CPU that a restart storm measured (py-spy). A callback preempted by another
    process on a busy machine reads longer than the CPU it used."""

    KEEP = 5

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.longest: list[tuple[float, str]] = []
        self.over_50ms = 0
        self.count = 0

    def install(self) -> None:
        original = asyncio.events.Handle._run
        probe = self

        clock = time.perf_counter

        def _run(handle: Any) -> None:
            started = clock()
            try:
                original(handle)
            finally:
                spent = clock() - started
                probe.count += 1
                if spent > 0.05:
                    probe.over_50ms += 1
                if len(probe.longest) < probe.KEEP or spent > probe.longest[-1][0]:
                    probe._keep(spent, handle)

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]

    def _keep(self, spent: float, handle: Any) -> None:
        self.longest.append((spent, _callback_name(handle)))
        self.longest.sort(key=lambda entry: -entry[0])
        del self.longest[self.KEEP :]

    def figures(self) -> dict[str, Any]:
        return {
            "callbacks": self.count,
            "over_50ms": self.over_50ms,
            "longest": [[round(spent * 1000, 1), name] for spent, name in self.longest],
        }


def _callback_name(handle: Any) -> str:
    """The task (its coroutine's name) or the function a loop callback belongs to."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        # the task's coroutine and what it awaits now, two levels down (a wrapper such as
        # mautrix's background_task "catch" says little by itself)
        names: list[str] = []
        coro: Any = owner.get_coro()
        while coro is not None and len(names) < 3:
            names.append(str(getattr(coro, "__qualname__", type(coro).__name__)))
            coro = getattr(coro, "cr_await", None)
        return " > ".join(names) or owner.get_name()
    return str(getattr(callback, "__qualname__", type(callback).__name__))


class ProcessProbe:
    """The probe installed in another program (the bridge) by ``_probe_site/sitecustomize``."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.gc = GCPauses()
        self.lag = LoopLag(float(os.environ.get("MSN_SCALE_PROBE_INTERVAL", "0.01")))
        self.callbacks = LongCallbacks()
        why = os.environ.get("MSN_SCALE_PROBE_GC_WHY")  # (milliseconds)
        self.why = GCWhy(float(why)) if why else None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.window_started = time.monotonic()

    def install(self) -> None:
        import signal

        self.gc.install()
        if self.why is not None:
            self.why.install()
        self.callbacks.install()
        signal.signal(signal.SIGUSR1, lambda *_: self._reset())
        signal.signal(signal.SIGUSR2, lambda *_: self._dump_allocations())
        original = asyncio.BaseEventLoop.run_until_complete
        probe = self

        def run_until_complete(loop: Any, future: Any) -> Any:
            if probe.loop is None:
                probe.loop = loop
                loop.call_soon(probe._start)
            return original(loop, future)

        asyncio.BaseEventLoop.run_until_complete = run_until_complete  # type: ignore[method-assign,assignment]

    def _start(self) -> None:
        self.lag.start()
        assert self.loop is not None
        self.loop.create_task(self._write_forever(), name="probe-writer")

    def _reset(self) -> None:
        self.gc.reset()
        self.lag.reset()
        self.callbacks.reset()
        if self.why is not None:
            self.why.found.clear()
        self.window_started = time.monotonic()
        self._write()

    async def _write_forever(self) -> None:
        while True:
            self._write()
            await asyncio.sleep(1.0)

    def _write(self) -> None:
        data = {
            "time": time.time(),
            "window_s": round(time.monotonic() - self.window_started, 2),
            "gc": self.gc.figures(),
            "lag": self.lag.figures(),
            "callbacks": self.callbacks.figures(),
            "gc_counts": gc.get_count(),
            # (not gc.get_freeze_count(): it walks every frozen object, a pause of its own)
            "gc_freezes": _policy_count("freezes"),
            "gc_promotions": _policy_count("promotions"),
            "gc_threshold": gc.get_threshold(),
            **({"gc_why": self.why.found} if self.why is not None else {}),
            # (tasks are counted in the SIGUSR2 dump: asyncio.all_tasks every second walks
            # every task, tens of thousands at scale)
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)

    def _dump_allocations(self) -> None:
        self._dump_tasks()
        if not tracemalloc.is_tracing():
            return
        snapshot = tracemalloc.take_snapshot()
        snapshot = snapshot.filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
        snapshot.dump(str(self.path.with_suffix(".snapshot")))  # (for per_user_allocations)
        rows = []
        for stat in snapshot.statistics("lineno")[:25]:
            frame = stat.traceback[0]
            rows.append(
                {
                    "where": f"{_short(frame.filename)}:{frame.lineno}",
                    "kib": round(stat.size / 1024, 1),
                    "count": stat.count,
                }
            )
        out = self.path.with_suffix(".alloc.json")
        out.write_text(json.dumps(rows))

    def _dump_tasks(self) -> None:
        """Tasks by name and the loop's timers by callback (numbers and user IDs left out), and
        :func:`heap_kib`, to ``<probe>.tasks.json``: what runs per user while idle."""
        if self.loop is None:
            return
        tasks: dict[str, int] = {}
        for task in asyncio.all_tasks(self.loop):
            name = re.sub(r"[-_]?(@\S+|\d+)$", "", task.get_name())
            tasks[name] = tasks.get(name, 0) + 1
        timers: dict[str, int] = {}
        for handle in getattr(self.loop, "_scheduled", ()):
            callback = getattr(handle, "_callback", None)
            name = getattr(callback, "__qualname__", None) or type(callback).__name__
            owner = getattr(callback, "__self__", None)
            if owner is not None and hasattr(owner, "get_coro"):  # a task waking up
                coro = owner.get_coro()
                name = f"task {getattr(coro, '__qualname__', '?')}"
            timers[name] = timers.get(name, 0) + 1
        data = {"tasks": tasks, "timers": timers, "heap": heap_kib()}
        self.path.with_suffix(".tasks.json").write_text(json.dumps(data))


def _policy_count(name: str) -> int:
    """A count of the bridge's GC policy (if the bridge is loaded): ``freezes`` (what was alive
    frozen every N logins) or ``promotions`` (young collections whose survivors were frozen)."""
    import sys

    module = sys.modules.get("bridge.gc_policy")
    return int(getattr(getattr(module, "policy", None), name, 0))


# -- sampling another process ------------------------------------------------------------------
class PySpy:
    """``py-spy record`` (PyPI ``py-spy``) on another process for one phase of a benchmark, and a
    summary of where that process's CPU went: by function (own samples) and by source file
    (samples with the file anywhere on the stack). Idle threads are not sampled."""

    def __init__(self, pid: int, output: Path, rate: int = 200) -> None:
        self.pid, self.output, self.rate = pid, output, rate
        self.proc: Any = None

    @staticmethod
    def available() -> str | None:
        import shutil
        import sys

        local = Path(sys.executable).with_name("py-spy")
        return str(local) if local.exists() else shutil.which("py-spy")

    def start(self) -> None:
        import subprocess

        exe = self.available()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw",
             "--output", str(self.output), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(60)

    def summary(self, top: int = 15) -> str:
        own: dict[str, int] = {}
        files: dict[str, int] = {}
        total = idle = 0
        for line in self.output.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            n = int(count)
            frames = stack.split(";")
            leaf = frames[-1]
            if _IDLE.search(leaf):
                idle += n  # waiting (py-spy cannot always tell here)
                continue
            total += n
            own[leaf] = own.get(leaf, 0) + n
            for name in {_frame_file(f) for f in frames}:
                files[name] = files.get(name, 0) + n
        if not total:
            return "    (no samples)"
        lines = [f"    {total} busy samples ({idle} waiting left out); by function (own time):"]
        for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"      {n * 100 / total:5.1f} %  {_short(frame)}")
        lines.append("    by source file (anywhere on the stack):")
        for name, n in sorted(files.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"      {n * 100 / total:5.1f} %  {name}")
        return "\n".join(lines)


#: leaf frames that wait rather than work: the event loop's select, queue and lock waits
_IDLE = re.compile(
    r"^(\w+\.)?(select|wait|_wait_for_tstate_lock) \(|"
    r"^_connection_worker_thread \(aiosqlite/core\.py:59\)"
)


def _frame_file(frame: str) -> str:
    """``func (path/file.py:12)`` -> ``file`` relative to its package root."""
    inner = frame.rpartition("(")[2].rstrip(")")
    return _short(inner.rpartition(":")[0]) or frame
