"""``python -m benchmarks.render``: the renderer against its floor and the Django libraries.

Every measurement is a fresh process (``benchmarks.child``). One round runs every
(method, input) once, in an order that changes every round (``Bench.run_round``); the ratios
compare each method with the floor measured in the same round. On a machine shared with other
work, absolute seconds drift; the ratios and the medians over rounds are what stay fair.

    python -m benchmarks.render                    # the whole table, goals, benchmarks/results.md
    python -m benchmarks.render --rounds 3 --methods floor,"images_app[vips]" --inputs jpeg12
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from .child import PREFIX
from .inputs import INPUTS, write_inputs
from .methods import METHODS, PNG_FLOOR_LEVEL
from .quality import References, target_sizes
from .server import Server, ServerError

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.md"
# Sections of results.md this benchmark does not make (the load test's table) start at this
# marker; a rewrite keeps them.
KEPT = "<!-- kept: not written by benchmarks.render -->"
DEFAULT_METHODS = (
    "floor",
    "floor[our decode]",
    "images_app[vips]",
    "images_app[pillow]",
    "naive Pillow",
    "sorl-thumbnail[vips]",  # sorl's fastest engine here; [pil] measured 3x slower
    "versatileimagefield",
    "easy-thumbnails",
    "HTTP upload",
)
ENGINES = ("images_app[vips]", "images_app[pillow]")  # the default ("auto") engine first
LIBRARIES = (
    "sorl-thumbnail[vips]",
    "sorl-thumbnail[pil]",
    "versatileimagefield",
    "easy-thumbnails",
)
HTTP = "HTTP upload"
OWN_FLOOR = "floor[our decode]"
MiB = 1024 * 1024
CHILD_TIMEOUT = 300
# Below this share of a core for the one-threaded floor, the machine counts as busy.
BUSY = 0.8

FAIRNESS = (
    "Each number is one call in a fresh process, after one warm-up call on the same input; "
    "each round runs every method once, right beside a floor measurement of the same input; "
    "'x floor' is the median over rounds of (method / that floor). Other work shares this "
    "machine: compare ratios and medians, not absolute seconds across runs."
)


def kept_sections(path: Path) -> str:
    """What follows KEPT in the results file being replaced, marker included ('' if none)."""
    text = path.read_text() if path.exists() else ""
    return "\n" + text[text.index(KEPT) :] if KEPT in text else ""


@dataclass
class Row:
    """Every round's result for one (method, input)."""

    method: str
    input: str
    rounds: dict[int, dict] = field(default_factory=dict)  # the floor's: every measurement
    floors: dict[int, dict] = field(default_factory=dict)  # the floor measured beside it
    problem: str | None = None  # "unavailable: ..." or "error: ..."
    psnr: float | None = None  # delivered outputs, min over renditions
    pixel_psnr: float | None = None  # lossless outputs (images_app only), min over renditions
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def values(self, key: str) -> list[float]:
        return [result[key] for result in self.rounds.values() if result.get(key) is not None]

    def median(self, key: str) -> float | None:
        values = self.values(key)
        return statistics.median(values) if values else None


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.rows: dict[tuple[str, str], Row] = {}
        self.references: dict[str, References] = {}
        self.paths: dict[str, Path] = {}
        self.server_options: dict = {}
        self.input_summary = ""

    # Running.

    def run(self) -> None:
        started = time.monotonic()
        machine = machine_info()
        say(f"Machine: {machine['summary']}")
        say(f"Load average at start: {machine['load']}")
        say(FAIRNESS)
        self.prepare_inputs()
        jobs = self.jobs()
        server = self.start_server() if any(method == HTTP for method, _ in jobs) else None
        try:
            for index in range(self.args.rounds):
                self.run_round(index, jobs)
        finally:
            if server is not None:
                server.stop()
        self.quality_pass()
        self.score_outputs()
        machine["load_end"] = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        machine["duration"] = f"{time.monotonic() - started:.0f} s"
        report = Report(self, machine)
        say("")
        say(report.text())
        results = self.args.results
        if results is None and self.args.full:
            results = str(RESULTS)
        if results:
            Path(results).write_text(report.markdown() + kept_sections(Path(results)))
            say(f"\nWritten: {results}")
        elif results is None:
            say(f"\n{RESULTS.name} not written: not every method and input ran (see --results)")

    def prepare_inputs(self) -> None:
        started = time.monotonic()
        directory = self.workdir / "inputs"
        directory.mkdir()
        self.paths = {
            name: path for name, path in write_inputs(directory).items() if name in self.inputs
        }
        for name, path in self.paths.items():
            references = self.references[name] = References(path)
            folder = self.workdir / "refs" / name
            folder.mkdir(parents=True)
            for rendition, size in target_sizes(references.source.size).items():
                references.viewable(size).save(folder / f"{rendition}.png", compress_level=1)
        sizes = ", ".join(
            f"{name} {path.stat().st_size / MiB:.1f} MiB" for name, path in self.paths.items()
        )
        self.input_summary = "; ".join(
            f"{INPUTS[name][0]} {INPUTS[name][1][0]}x{INPUTS[name][1][1]}, "
            f"{path.stat().st_size / MiB:.1f} MiB"
            for name, path in self.paths.items()
        )
        say(f"Inputs and references made in {time.monotonic() - started:.1f} s: {sizes}")

    @property
    def inputs(self) -> list[str]:
        return self.args.inputs

    def jobs(self) -> list[tuple[str, str]]:
        jobs = []
        for method in self.args.methods:
            for name in METHODS[method].inputs:
                if name in self.inputs:
                    jobs.append((method, name))
                    self.rows[method, name] = Row(method, name)
        return jobs

    def start_server(self) -> Server | None:
        server = Server(ROOT, self.workdir / "server")
        (self.workdir / "server").mkdir()
        try:
            self.server_options = server.start()
        except (ServerError, OSError, subprocess.SubprocessError) as exc:
            say(f"HTTP upload: unavailable, the server did not start: {exc}")
            server.stop()
            return None
        options = self.server_options
        say(f"Server: gunicorn on {options['url']}, worker pid {options['pid']}")
        return server

    def run_round(self, index: int, jobs: list[tuple[str, str]]) -> None:
        """Every job once, each right next to a floor measurement of its input (before it in
        even rounds, after it in odd ones), so a ratio compares two processes seconds apart,
        not a method with a floor measured half a round earlier under different contention.
        The order is rotated by one each round and reversed every other round, so no method
        always runs first or last, or always right after the same one."""
        started = time.monotonic()
        shift = index % len(jobs)
        order = jobs[shift:] + jobs[:shift]
        count = 0
        floored = set()
        for method, name in reversed(order) if index % 2 else order:
            if method == "floor":
                continue  # measured with the others, below
            if self.rows[method, name].problem:
                continue  # unavailable or broken: said once, not retried every round
            base = "jpeg12" if method == HTTP else name
            pair = [(method, name)]
            if ("floor", base) in self.rows:
                pair.insert(0, ("floor", base))
            results = {}
            for job in reversed(pair) if index % 2 else pair:
                results[job[0]] = self.measure(*job)
                count += 1
            floored.add(base)
            floor, mine = results.get("floor"), results[method]
            if mine is not None:
                self.rows[method, name].rounds[index] = mine
                if floor is not None:
                    self.rows[method, name].floors[index] = floor
        for method, name in order:  # a floor that no method was measured beside
            if method == "floor" and name not in floored:
                self.measure(method, name)
                count += 1
        elapsed = time.monotonic() - started
        say(f"Round {index + 1}/{self.args.rounds}: {count} measurements in {elapsed:.1f} s")

    def measure(self, method: str, name: str) -> dict | None:
        """One child; the result, or None (the row then records the problem). Floor results
        are also kept in the floor's row, one entry per measurement."""
        row = self.rows[method, name]
        if row.problem:
            return None
        # The first good measurement keeps its outputs, for PSNR and sizes.
        save = None if row.rounds else self.workdir / "outputs" / f"{method}-{name}"
        result = self.child(method, name, save=save)
        if "unavailable" in result or "error" in result:
            kind = "unavailable" if "unavailable" in result else "error"
            row.problem = f"{kind}: {result[kind]}"
            say(f"{method} on {name}: {row.problem}")
            return None
        if method == "floor":
            row.rounds[len(row.rounds)] = result
        return result

    def child(self, method: str, name: str, *, save: Path | None, **options) -> dict:
        spec = {
            "method": method,
            "input": name,
            "path": str(self.paths[name]),
            "format": INPUTS[name][2],
            "workdir": str(self.workdir / "child"),
            "refs": str(self.workdir / "refs" / name),
            "save": str(save) if save else None,
            "options": {**(self.server_options if method == HTTP else {}), **options},
        }
        if method == HTTP and not self.server_options:
            return {"unavailable": "the server did not start (see above)"}
        try:
            completed = subprocess.run(
                [sys.executable, "-m", "benchmarks.child", json.dumps(spec)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=CHILD_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"no result within {CHILD_TIMEOUT} s"}
        for line in reversed(completed.stdout.splitlines()):
            if line.startswith(PREFIX):
                return json.loads(line[len(PREFIX) :])
        detail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {completed.returncode}: {detail}"[:300]}

    # Quality.

    def quality_pass(self) -> None:
        """The renderer's pixels: the same render with PNG outputs (lossless), once per input."""
        for engine in ENGINES:
            for name in self.inputs:
                row = self.rows.get((engine, name))
                if row is None or not row.rounds or INPUTS[name][2] == "PNG":
                    continue  # PNG sources render to PNG already
                save = self.workdir / "outputs" / f"{engine}-{name}-lossless"
                result = self.child(engine, name, save=save, lossless=True)
                if result.get("outputs"):
                    row.pixel_psnr = self._psnr(name, result["outputs"])[0]
                else:
                    say(f"{engine} on {name}, lossless pass: {result}")

    def score_outputs(self) -> None:
        for (method, name), row in self.rows.items():
            first = next(iter(row.rounds.values()), None)
            if not first or not first.get("outputs"):
                continue
            row.psnr, row.sizes = self._psnr(name, first["outputs"])
            if method in ENGINES and INPUTS[name][2] == "PNG":
                row.pixel_psnr = row.psnr

    def _psnr(self, name: str, outputs: dict[str, str]) -> tuple[float, dict]:
        references = self.references[name]
        values, sizes = [], {}
        for rendition, path in outputs.items():
            data = Path(path).read_bytes()
            with Image.open(path) as image:
                sizes[rendition] = image.size
            values.append(references.psnr(data))
        return min(values), sizes


class Report:
    """The table, the goals and the machine: text for the terminal, Markdown for the README."""

    def __init__(self, bench: Bench, machine: dict):
        self.bench = bench
        self.rows = bench.rows
        self.machine = machine

    def ratio(self, row: Row, key: str = "wall") -> float | None:
        """Median over rounds of ``key`` / the floor's measured beside it (same input; for
        HTTP, the 12 MP floor)."""
        if row.method == "floor":
            return 1.0 if row.rounds else None
        ratios = [
            result[key] / row.floors[index][key]
            for index, result in row.rounds.items()
            if index in row.floors
        ]
        return statistics.median(ratios) if ratios else None

    # The table.

    def table(self) -> list[str]:
        lines = [
            "| input | method | wall s | wall range | cpu s | peak MiB | out KiB | PSNR dB | "
            "pixel PSNR dB | x floor | cpu x floor |",
            "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        order = {name: index for index, name in enumerate(INPUTS)}
        for row in sorted(self.rows.values(), key=lambda row: order[row.input]):
            label = INPUTS[row.input][0]
            if row.problem and not row.rounds:
                lines.append(f"| {label} | {row.method} | {row.problem} |||||||| ")
                continue
            walls = row.values("wall")
            peak = max(row.values("peak"), default=None)
            first = next(iter(row.rounds.values()))
            lines.append(
                "| "
                + " | ".join(
                    [
                        label,
                        row.method + (f" ({row.problem})" if row.problem else ""),
                        f"{row.median('wall'):.3f}",
                        f"{min(walls):.3f}..{max(walls):.3f}",
                        f"{row.median('cpu'):.3f}",
                        "—" if peak is None else f"{peak / MiB:.0f}",
                        f"{first['bytes'] / 1024:.0f}",
                        number(row.psnr),
                        number(row.pixel_psnr),
                        number(self.ratio(row), 2),
                        number(self.ratio(row, "cpu"), 2),
                    ]
                )
                + " |"
            )
        return lines

    def notes(self) -> list[str]:
        notes = []
        for row in self.rows.values():
            if not row.sizes:
                continue
            contract = target_sizes(self.bench.references[row.input].source.size)
            off = [
                f"{name} {w}x{h} (contract {contract[name][0]}x{contract[name][1]})"
                for name, (w, h) in row.sizes.items()
                if (w, h) != contract[name]
            ]
            if off:
                notes.append(f"{row.method} on {row.input}: sizes differ: {', '.join(off)}")
        return notes

    # The goals.

    def goals(self) -> list[str]:
        """PASS/FAIL per goal for the default engine, then the same goals for the fallback."""
        engines = self.engines()
        lines = [] if engines else ["SKIP  no images_app engine was measured"]
        for index, engine in enumerate(engines):
            role = "the default engine" if index == 0 else "the fallback where pyvips is missing"
            goals = self.engine_goals(engine, http=index == 0)
            lines += [f"{engine} ({role}):", *goals]
            if index == 0:
                lines += self.own_floor(engine)
                met = sum(line.startswith("PASS") for line in goals)
                summary = f"{engine}: {met} of {len(goals)} goals met."
        for engine in ENGINES:
            row = self.rows.get((engine, "jpeg12"))
            if row is not None and not row.rounds:
                lines.append(f"SKIP  {engine}: {row.problem}")
        return [*lines, summary] if engines else lines

    def engines(self) -> list[str]:
        """The engines measured, default first ("auto" picks vips wherever it imports)."""
        return [
            engine
            for engine in ENGINES
            if any(
                (engine, name) in self.rows and self.rows[engine, name].rounds for name in INPUTS
            )
        ]

    def engine_goals(self, engine: str, *, http: bool) -> list[str]:
        """The renderer's goals (docs/renderer.md): the default engine gets all seven, the
        fallback 5 (its own floor goal), 6 and 7; the transparent-PNG goal is kept as P."""
        r12, r24, rpng = (self.rows.get((engine, name)) for name in ("jpeg12", "jpeg24", "png4"))
        peak = max(r24.values("peak"), default=None) if r24 else None
        pixel = [row.pixel_psnr for (m, _), row in self.rows.items() if m == engine]
        pixel = [value for value in pixel if value is not None]
        what = "12 MP JPEG -> 5 renditions + original"
        if http:
            speedup, library = self.speedup(engine)
            lines = [
                check("1", what, *self.ratios(r12), 1.0, "x floor"),
                check("2", f"vs the fastest Django library, {library}", *speedup, -5.0, "x faster"),
                self.http_goal(),
                self.cpu_goal(engine),
            ]
        else:
            lines = [check("5", f"{what}, this engine", *self.ratios(r12), 2.0, "x floor")]
        lines += [
            check(
                "6",
                "24 MP JPEG, peak memory above the process baseline",
                None if peak is None else peak / MiB,
                None,
                64,
                " MiB",
            ),
            check(
                "7",
                "every rendition's pixels vs one-step LANCZOS, min over inputs (chart included)",
                min(pixel) if pixel else None,
                None,
                -40,
                " dB",
            ),
            check(
                "P",
                f"4 MP transparent PNG -> PNG, vs the level-{PNG_FLOOR_LEVEL} floor",
                *self.ratios(rpng),
                0.5,
                "x floor",
            ),
        ]
        return lines

    def own_floor(self, engine: str) -> list[str]:
        """The default engine against the floor of its own path (no goal: how close we are)."""
        lines = []
        for name in ("jpeg12", "jpeg24", "chart12"):
            mine, own = self.rows.get((engine, name)), self.rows.get((OWN_FLOOR, name))
            if not (mine and own and self.ratio(mine) and self.ratio(own)):
                continue
            lines.append(
                f"INFO  {INPUTS[name][0]}: {engine} {self.ratio(mine):.2f}x floor; the floor of "
                f"its own decode {self.ratio(own):.2f}x floor; so {engine} is "
                f"{self.ratio(mine) / self.ratio(own):.2f}x its own floor"
            )
        return lines

    def cpu_goal(self, engine: str) -> str:
        """Goal 4: the server worker's CPU for one HTTP upload over the render's CPU alone
        (inspect, strip location, render: the images_app row), median of same-round ratios."""
        what = f"HTTP upload's server CPU vs {engine}'s CPU alone, 12 MP"
        http, mine = self.rows.get((HTTP, "jpeg12")), self.rows.get((engine, "jpeg12"))
        if not (http and http.rounds and mine and mine.rounds):
            return f"SKIP  4. {what}: not measured"
        ratios = [
            result["cpu"] / mine.rounds[index]["cpu"]
            for index, result in http.rounds.items()
            if index in mine.rounds
        ]
        best = min(http.values("cpu")) / min(mine.values("cpu"))
        return check("4", what, statistics.median(ratios) if ratios else None, best, 1.15, "x")

    def ratios(self, row: Row | None) -> tuple[float | None, float | None]:
        """(median of same-round ratios to the floor, best round / best floor round)."""
        if row is None or not row.rounds:
            return None, None
        floor = self.rows.get(("floor", "jpeg12" if row.method == HTTP else row.input))
        walls = floor.values("wall") if floor else []
        best = min(row.values("wall")) / min(walls) if walls else None
        return self.ratio(row), best

    def speedup(self, engine: str) -> tuple[tuple[float | None, float | None], str]:
        """How many times faster than the fastest library: the median over rounds of the
        library's floor ratio over the engine's (each against the floor measured beside it);
        and best round over best round."""
        mine = self.rows.get((engine, "jpeg12"))
        libraries = [
            self.rows[name, "jpeg12"]
            for name in LIBRARIES
            if (name, "jpeg12") in self.rows and self.rows[name, "jpeg12"].rounds
        ]
        if not mine or not mine.rounds or not libraries:
            return (None, None), "none measured"
        fastest = min(libraries, key=lambda row: row.median("wall"))
        ratios = [
            (fastest.rounds[index]["wall"] / fastest.floors[index]["wall"])
            / (result["wall"] / mine.floors[index]["wall"])
            for index, result in mine.rounds.items()
            if index in fastest.rounds and index in fastest.floors and index in mine.floors
        ]
        best = min(fastest.values("wall")) / min(mine.values("wall"))
        return (statistics.median(ratios) if ratios else None, best), fastest.method

    def http_goal(self) -> str:
        row = self.rows.get((HTTP, "jpeg12"))
        what = "HTTP upload of the 12 MP JPEG (live server, default engine)"
        if row is None:
            return f"SKIP  3. {what}: not run (--methods)"
        if not row.rounds:
            return f"SKIP  3. {what}: {row.problem}"
        return check("3", what, *self.ratios(row), 1.3, "x floor")

    # Output.

    def contention(self) -> list[str]:
        """How busy the machine was, from the one-threaded floor: the share of a core it got."""
        shares = [
            result["cpu"] / result["wall"]
            for (method, _), row in self.rows.items()
            if method == "floor"
            for result in row.rounds.values()
        ]
        if not shares:
            return []
        share = statistics.median(shares)
        line = f"The one-threaded floor got {share:.0%} of a core (median over its measurements)."
        if share >= BUSY:
            return [line + " The machine was quiet enough for wall-clock goals."]
        return [
            line + " The machine was busy: a multi-threaded method (images_app, libvips) can "
            "take a larger share of contended cores than the one-threaded floor, so wall ratios "
            "flatter it. "
            "Read PASS/FAIL on time as provisional, check 'cpu x floor' and 'best round', and "
            "re-run on a quiet machine."
        ]

    def text(self) -> str:
        parts = ["\n".join(self.table())]
        parts += ["", "Goals:", *self.contention(), *self.goals()]
        if self.notes():
            parts += ["", "Notes:", *self.notes()]
        parts += ["", "Definitions:", *self.definitions()]
        parts += [
            "",
            f"Load average at end: {self.machine['load_end']}; total {self.machine['duration']}",
        ]
        return "\n".join(parts)

    def definitions(self) -> list[str]:
        lines = [
            f"- {method}: {METHODS[method].definition}"
            for method in dict.fromkeys(m for m, _ in self.rows)
        ]
        lines += [
            "- x floor, cpu x floor: median over rounds of the method's wall (cpu) over the wall "
            "(cpu) of the floor measured right beside it, same input (HTTP: the 12 MP floor); "
            "the floor's own row is every floor measurement. "
            "The goals use wall; cpu shows the work done whatever else runs on the machine.",
            "- wall: perf_counter around the one measured call; cpu: process_time (all threads; "
            "HTTP: the server worker's, from /proc); range: min..max over rounds.",
            "- peak: the call's growth in resident memory (VmHWM after the call minus VmRSS "
            "before it, high-water mark reset via /proc/PID/clear_refs), max over rounds.",
            "- PSNR: min over the five delivered renditions, against a one-step LANCZOS resize of "
            "the full decode (RGB, or premultiplied RGBa for transparent sources) at the output's "
            "own size; JPEG q85 alone costs what the floor's row shows.",
            "- pixel PSNR: the same render with every spec '|format-png' (lossless), so the number "
            "is the renderer's resize, colour and cascade, not the JPEG encoder. Goal 6 uses it.",
        ]
        return lines

    def markdown(self) -> str:
        m = self.machine
        lines = [
            "# Render benchmark",
            "",
            f"`make bench` (`python -m benchmarks.render`), {m['date']}, "
            f"{self.bench.args.rounds} rounds, {m['duration']}. {FAIRNESS}",
            *(["", self.bench.args.note] if self.bench.args.note else []),
            "",
            "## Machine",
            "",
            f"- CPU: {m['cpu']}, nproc {m['nproc']}; "
            f"load average {m['load']} at start, {m['load_end']} at end",
            f"- Python {m['python']}, Pillow {m['pillow']}, "
            f"libvips {m['libvips']} (pyvips {m['pyvips']})",
            f"- Peers: {m['peers']}",
            f"- Inputs (made by benchmarks/inputs.py): {self.bench.input_summary}",
            "",
            "## Results",
            "",
            *self.table(),
            "",
            "## Goals",
            "",
            *self.contention(),
            "",
            "```",
            *self.goals(),
            "```",
        ]
        if self.notes():
            lines += ["", "## Notes", "", *[f"- {note}" for note in self.notes()]]
        lines += ["", "## Definitions", "", *self.definitions(), ""]
        return "\n".join(lines)


def check(
    number_: str, what: str, value: float | None, best: float | None, goal: float, unit: str
) -> str:
    """One PASS/FAIL line, saying by how much a failure misses. A negative ``goal`` means
    "at least"; ``best`` (best round against best round) shows what less contention gives."""
    at_least = goal < 0
    goal = abs(goal)
    target = f"goal {'>=' if at_least else '<='} {goal:g}{unit}"
    if value is None:
        return f"SKIP  {number_}. {what}: not measured ({target})"
    passed = value >= goal if at_least else value <= goal
    line = f"{'PASS' if passed else 'FAIL'}  {number_}. {what}: {value:.2f}{unit} ({target}"
    if not passed:
        miss = 1 - value / goal if at_least else value / goal - 1
        line += f"; {'short' if at_least else 'over'} by {miss:.0%}"
    if best is not None:
        line += f"; best round vs best round {best:.2f}{unit}"
    return line + ")"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return "∞" if math.isinf(value) else f"{value:.{digits}f}"


def machine_info() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import pyvips

        libvips = ".".join(str(pyvips.version(i)) for i in range(3))
    except Exception as exc:  # pyvips raises OSError, ImportError... when libvips is missing
        libvips = f"unavailable ({type(exc).__name__})"
    import PIL

    peers = ", ".join(
        f"{name} {version(name)}"
        for name in ("Django", "sorl-thumbnail", "django-versatileimagefield", "easy-thumbnails")
    )
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "nproc": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "libvips": libvips,
        "pyvips": version("pyvips"),
        "peers": peers,
        "load": ", ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    info["summary"] = (
        f"{info['cpu']}, nproc {info['nproc']}; Python {info['python']}, Pillow {info['pillow']}, "
        f"libvips {info['libvips']}; {peers}"
    )
    return info


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def say(text: str) -> None:
    print(text, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.render", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="rounds of every measurement (default 5)"
    )
    parser.add_argument(
        "--methods",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=list(DEFAULT_METHODS),
        help=f"comma-separated, from: {', '.join(METHODS)} (floor is needed for the ratios)",
    )
    parser.add_argument(
        "--inputs",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=list(INPUTS),
        help=f"comma-separated, from: {', '.join(INPUTS)}",
    )
    parser.add_argument(
        "--results",
        default=None,
        help=f"Markdown file to write ('' for none; default {RESULTS.name}, on a full run only)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temp dir (inputs, outputs, logs)"
    )
    parser.add_argument(
        "--note", default="", help="a sentence for the results file (e.g. what else ran)"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.methods if name not in METHODS] + [
        name for name in args.inputs if name not in INPUTS
    ]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    args.full = set(DEFAULT_METHODS) <= set(args.methods) and set(INPUTS) <= set(args.inputs)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="images_app-bench-"))
    try:
        Bench(args, workdir).run()
    finally:
        if args.keep:
            say(f"Kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
