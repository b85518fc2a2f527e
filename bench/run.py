"""The on-demand performance benchmark: tokaudit against what a user might run instead.

For each size (default 100k, 1M and 10M requests) and each kind of export (generic JSONL
logs, OpenRouter generations CSV), and once for a Claude Code tree (default 200k messages):

1. generate the data into ``bench/data/`` (reused when a complete set with the same
   parameters is already there) and read it once so every tool starts from a warm cache;
   compile the measured tokaudit's bytecode, as ``pip install`` does (see
   :func:`compile_bytecode`);
2. time, each in a fresh subprocess, with wall time and peak RSS (GNU ``/usr/bin/time -v``,
   else ``getrusage(RUSAGE_CHILDREN)`` in a fresh launcher process):
   ``tokaudit ingest`` into an empty store, ``tokaudit ingest`` again (nothing changed),
   ``tokaudit report --format json`` with the bundled rules and with ``--no-rules``,
   a bare Polars lazy scan + group-by (the floor), DuckDB SQL, and ccusage (Claude Code);
3. check the totals against each other and against the generator's ``expected.json``, and
   the targets of the performance issue, printing PASS/FAIL with numbers;
4. write ``bench/results/results-<date>.md`` (and ``.json``) and print the Markdown.

    python bench/run.py --quick            # 100k requests + the 200k-message Claude Code tree
    python bench/run.py                    # 100k, 1M and 10M (needs ~15 GB of disk)
    python bench/run.py --sizes 1M --kinds jsonl

Run it with the interpreter of the environment to measure: its ``tokaudit`` is used unless
``--tokaudit`` names another. DuckDB must be installed there (benchmark-only dependency);
ccusage is installed on first use with npm into ``bench/.node/``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from generate import INPUT, label, parse_count  # noqa: E402

GIB = 1 << 30
MIB = 1 << 20
TOKENS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
#: Bytes per request of each kind (from the generator), to check disk space before writing.
BYTES_PER_REQUEST = {"jsonl": 700, "openrouter": 230, "claude-code": 8_300}
#: The store and reports take roughly this share of the input on top of it.
STORE_SHARE = 0.35
CASE_NAMES = {
    "jsonl": "generic-jsonl",
    "openrouter": "openrouter-csv",
    "claude-code": "claude-code",
}
REPORT_NOW = "2026-07-01T00:00:00Z"
CCUSAGE_PACKAGES = ("ccusage", "@ccusage/ccusage-linux-x64")


# ----------------------------------------------------------------------------- measuring


@dataclass
class Measure:
    """One timed subprocess."""

    command: list[str]
    wall: float
    rss_mib: float | None
    returncode: int
    stdout: str = ""
    stderr: str = ""
    load: float = 0.0  # 1-minute load average when it started (others share the machine)
    #: Every run's wall time when this is the median of several (see :func:`combined`).
    walls: list[float] = field(default_factory=list)


def combined(runs: list[Measure]) -> Measure:
    """Repeated runs of one command as one: the median wall time, the largest peak RSS.

    A failed run stands for all of them (its exit code and output explain the row); so
    does the last run otherwise, whose output the checks read.
    """
    failed = [run for run in runs if run.returncode != 0]
    base = failed[0] if failed else runs[-1]
    peaks = [run.rss_mib for run in runs if run.rss_mib is not None]
    walls = sorted(run.wall for run in runs)
    return replace(
        base,
        wall=statistics.median(walls),
        rss_mib=max(peaks) if peaks else None,
        load=max(run.load for run in runs),
        walls=walls,
    )


_LAUNCHER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def gnu_time() -> str | None:
    """``/usr/bin/time`` when it is GNU time (``-v`` reports the peak RSS)."""
    path = shutil.which("time", path="/usr/bin:/bin") or ""
    if not path:
        return None
    probe = subprocess.run([path, "-v", "true"], capture_output=True, text=True, check=False)
    return path if "Maximum resident set size" in probe.stderr else None


def measure(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdout_path: Path | None = None,
    timer: str | None = None,
    mem_limit: int | None = None,
) -> Measure:
    """Run ``command`` once in a fresh process; wall time and the peak RSS of its tree.

    ``mem_limit`` (bytes) caps the address space (RLIMIT_AS) of the process tree, so a
    tool that would exhaust the shared machine's memory fails alone instead of waking the
    OOM killer; the failure shows as a non-zero exit (often signal 6, allocation failed).
    """

    def limit() -> None:
        if mem_limit:
            resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))

    with tempfile.NamedTemporaryFile("r", suffix=".rss", delete=False) as note:
        note_path = Path(note.name)
    if timer:
        wrapped = [timer, "-v", "-o", str(note_path), *command]
    else:
        wrapped = [sys.executable, "-c", _LAUNCHER, str(note_path), *command]
    load = os.getloadavg()[0]
    out = stdout_path.open("w") if stdout_path else subprocess.PIPE
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            wrapped,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            preexec_fn=limit if mem_limit else None,
        )
    finally:
        wall = time.perf_counter() - started
        if stdout_path:
            out.close()  # type: ignore[union-attr]
    text = note_path.read_text() if note_path.exists() else ""
    note_path.unlink(missing_ok=True)
    if timer:
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
        rss = int(found.group(1)) / 1024 if found else None
    else:
        rss = int(text) / 1024 if text.strip().isdigit() else None
    return Measure(
        command=command,
        wall=wall,
        rss_mib=rss,
        returncode=proc.returncode,
        stdout=proc.stdout if not stdout_path else "",
        stderr=proc.stderr[-4000:],
        load=load,
    )


# ----------------------------------------------------------------------------- results


@dataclass
class Row:
    case: str
    size: str
    tool: str
    wall: float | None = None
    rows: int | None = None
    rss_mib: float | None = None
    check: str = ""
    note: str = ""
    walls: list[float] = field(default_factory=list)  # every run, when repeated

    @property
    def spread(self) -> str:
        """The fastest and slowest of repeated runs (the table shows their median)."""
        if len(self.walls) < 2:
            return ""
        return f"{_fmt_wall(min(self.walls))}–{_fmt_wall(max(self.walls))}"

    @property
    def rate(self) -> float | None:
        if self.wall and self.rows:
            return self.rows / self.wall
        return None


@dataclass
class Check:
    case: str
    size: str
    name: str
    ok: bool | None  # None: not applicable / skipped
    detail: str

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)

    def check(self, case: str, size: str, name: str, ok: bool | None, detail: str) -> Check:
        item = Check(case, size, name, ok, detail)
        self.checks.append(item)
        print(f"  [{item.verdict}] {name}: {detail}", flush=True)
        return item


def _fmt_wall(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _fmt_rss(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| case | size | tool | wall s | runs (fastest–slowest s) | rows/s | peak RSS MiB "
        "| check |",
        "|---|---:|---|---:|---|---:|---:|---|",
    ]
    for row in rows:
        runs = f"{len(row.walls)} ({row.spread})" if row.spread else ("1" if row.wall else "")
        lines.append(
            f"| {row.case} | {row.size} | {row.tool} | {_fmt_wall(row.wall)} | {runs} | "
            f"{_fmt_rate(row.rate)} | {_fmt_rss(row.rss_mib)} | {row.check or row.note} |"
        )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- helpers


def _totals_equal(
    left: dict[str, Any], right: dict[str, Any], keys: tuple[str, ...]
) -> tuple[bool, str]:
    diffs = [f"{k}: {left.get(k)} vs {right.get(k)}" for k in keys if left.get(k) != right.get(k)]
    if diffs:
        return False, "; ".join(diffs)
    return True, ", ".join(f"{k}={left.get(k):,}" for k in keys if left.get(k) is not None)


def _expected_canonical(expected: dict[str, Any]) -> dict[str, int]:
    totals = expected["totals"]
    if expected["kind"] == "claude-code":
        return {
            "requests": totals["requests"],
            "input_tokens": totals["input_tokens"],
            "cached_input_tokens": totals["cache_read_tokens"],
            "cache_write_tokens": totals["cache_creation_tokens"],
            "output_tokens": totals["output_tokens"],
            "reasoning_tokens": 0,
        }
    return {k: int(totals[k]) for k in ("requests", *TOKENS)}


def _why(run: Measure, mem_limit: int | None) -> str:
    """A failed run in words; allocation failures under the cap say so."""
    text = run.stderr.strip()
    if "memory allocation" in text or "MemoryError" in text or run.returncode in (-9, 137):
        cap = f" under the {mem_limit / GIB:.0f} GiB cap" if mem_limit else ""
        return f"out of memory{cap} (exit {run.returncode})"
    last = text.splitlines()[-1] if text else ""
    return f"exit {run.returncode}: {last[:200]}"


def _head_commit(dot_git: Path) -> str | None:
    """The commit ``HEAD`` names, from the files alone; ``dot_git`` may be a worktree's
    ``.git`` file (the benchmark is best run from a worktree of a fixed commit)."""
    git_dir = dot_git
    if dot_git.is_file():  # a worktree: "gitdir: <main repo>/.git/worktrees/<name>"
        text = dot_git.read_text().strip()
        if not text.startswith("gitdir: "):
            return None
        git_dir = (dot_git.parent / text[8:]).resolve()
    head = git_dir / "HEAD"
    if not head.is_file():
        return None
    ref = head.read_text().strip()
    if not ref.startswith("ref: "):
        return ref[:12]
    common = git_dir
    if (git_dir / "commondir").is_file():  # branch refs live in the main repository
        common = (git_dir / (git_dir / "commondir").read_text().strip()).resolve()
    name = ref[5:]
    for base in (git_dir, common):
        if (base / name).is_file():
            return (base / name).read_text().strip()[:12]
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            if line.endswith(" " + name):
                return line.split()[0][:12]
    return None


def _source_state() -> str:
    """The checked-out commit (read from .git, no git command) and the newest source file."""
    root = BENCH.parent
    commit = _head_commit(root / ".git") or "?"
    newest = max((p.stat().st_mtime for p in (root / "audit").rglob("*.py")), default=0)
    stamp = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"HEAD {commit}, newest file under audit/ modified {stamp}"


def _baseline_output(run: Measure) -> dict[str, Any] | None:
    """The totals a baseline helper printed (its last line, JSON), or None if it failed."""
    if run.returncode != 0:
        return None
    lines = run.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _warm(path: Path) -> float:
    """Read every file once so all tools start from the page cache; returns seconds."""
    started = time.perf_counter()
    for item in sorted(path.rglob("*")):
        if item.is_file():
            with item.open("rb") as handle:
                while handle.read(1 << 24):
                    pass
    return time.perf_counter() - started


def _versions(python: str, ccusage: Path | None) -> dict[str, str]:
    script = (
        "import json, polars\n"
        "try:\n import duckdb; d = duckdb.__version__\n"
        "except ImportError:\n d = 'not installed'\n"
        "print(json.dumps({'polars': polars.__version__, 'duckdb': d}))\n"
    )
    out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=False)
    versions = json.loads(out.stdout) if out.returncode == 0 else {}
    if ccusage and ccusage.exists():
        ver = subprocess.run([str(ccusage), "--version"], capture_output=True, text=True)
        versions["ccusage"] = ver.stdout.strip() or "?"
    return versions


def _machine() -> str:
    cpu = "?"
    with Path("/proc/cpuinfo").open(encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}"


def compile_bytecode(tokaudit: str, env: dict[str, str]) -> str:
    """Compile the measured tokaudit's modules to bytecode, as installing it does; say what
    was done (for the results header).

    ``pip install .`` writes every module's bytecode. A checkout installed in editable mode
    (how a branch is benchmarked) leaves that to the first import, and where
    ``PYTHONDONTWRITEBYTECODE`` is set (the reference machine sets it) to no import at all:
    every command then compiles tokaudit's ~70 modules from source, about 70 ms a process
    (``tokaudit --help`` 0.34 → 0.27 s) that no installed tokaudit pays, twice in each
    end-to-end time. ``compileall`` writes the files whatever that variable says.
    """
    script = shutil.which(tokaudit) or tokaudit
    try:
        with Path(script).open("rb") as handle:
            first = handle.readline()
    except OSError as exc:
        return f"not compiled ({tokaudit}: {exc.strerror or exc})"
    if not (first.startswith(b"#!") and b"python" in first):
        return f"not compiled ({tokaudit} is not a Python script)"
    python = first[2:].decode(errors="replace").split()[0]
    # -P: the package the tokaudit script imports, not an ``audit`` folder in the cwd.
    where = subprocess.run(
        [python, "-P", "-c", "import audit, pathlib; print(pathlib.Path(audit.__file__).parent)"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    package = where.stdout.strip()
    if where.returncode or not package:
        return f"not compiled (package not found by {python})"
    done = subprocess.run(
        [python, "-m", "compileall", "-q", package], capture_output=True, env=env, check=False
    )
    if done.returncode:
        return f"not compiled (compileall failed in {package})"
    return f"compiled before timing ({package}), as an install does"


# ----------------------------------------------------------------------------- the runner


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.python = args.python
        self.tokaudit = args.tokaudit
        self.data = args.data
        self.timer = None if args.no_gnu_time else gnu_time()
        self.mem_limit = int(args.mem_limit * GIB) if args.mem_limit else None
        self.results = Results()
        self.env = dict(os.environ)
        empty = self.data / ".xdg-empty"
        empty.mkdir(parents=True, exist_ok=True)
        # Bundled defaults only: no tokaudit.yaml from the caller's home or working directory.
        self.env.update({"XDG_CONFIG_HOME": str(empty), "NO_COLOR": "1", "TZ": "UTC"})
        self.env.pop("TOKAUDIT_CONFIG", None)
        self.env.pop("TOKAUDIT_STORE", None)
        self.ccusage: Path | None = None
        self._startup: float | None = None
        self.bytecode = compile_bytecode(self.tokaudit, self.env)

    @property
    def startup(self) -> float:
        """Seconds for ``tokaudit --version``: the fixed cost of every command (imports)."""
        if self._startup is None:
            runs = [measure([self.tokaudit, "--version"], env=self.env).wall for _ in range(3)]
            self._startup = min(runs)
        return self._startup

    # -- data -------------------------------------------------------------------------

    def ensure_data(self, kind: str, requests: int) -> tuple[Path, dict[str, Any]] | str:
        """The case folder with complete data (generated if needed), or why it was skipped."""
        folder = self.data / f"{kind}-{label(requests)}"
        marker = folder / "expected.json"
        if marker.exists() and not self.args.regenerate:
            expected = json.loads(marker.read_text())
            if (
                expected.get("requests") == requests
                and expected.get("seed") == self.args.seed
                and expected.get("kind") == kind
            ):
                return folder, expected
        need = requests * BYTES_PER_REQUEST[kind] * (1 + STORE_SHARE)
        self.data.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.data).free
        if need + 2 * GIB > free:
            return (
                f"skipped: not enough disk (needs ~{need / GIB:.1f} GiB + 2 GiB margin, "
                f"{free / GIB:.1f} GiB free)"
            )
        print(f"  generating {kind} {label(requests)} into {folder} …", flush=True)
        command = [self.python, str(BENCH / "generate.py"), "--kind", kind]
        command += [
            "--requests",
            str(requests),
            "--out",
            str(folder),
            "--seed",
            str(self.args.seed),
        ]
        run = measure(command, timer=self.timer)
        if run.returncode != 0:
            return f"skipped: generator failed ({run.stderr.strip().splitlines()[-1:]})"
        expected = json.loads(marker.read_text())
        expected["generate_seconds"] = round(run.wall, 1)
        marker.write_text(json.dumps(expected, indent=1) + "\n")
        return folder, expected

    # -- tools --------------------------------------------------------------------------

    def has_adapter(self, kind: str) -> bool:
        if kind != "claude-code":
            return True
        out = subprocess.run(
            [self.tokaudit, "formats"], capture_output=True, text=True, env=self.env, check=False
        )
        return any(re.match(r"claude[-_ ]?code", line) for line in out.stdout.splitlines())

    def ensure_ccusage(self) -> Path | str:
        if self.ccusage:
            return self.ccusage
        node_dir = BENCH / ".node"
        binary = node_dir / "node_modules" / ".bin" / "ccusage"
        if not binary.exists():
            npm = shutil.which("npm")
            if not npm:
                return "skipped: npm not found (needed to install ccusage)"
            node_dir.mkdir(exist_ok=True)
            print(f"  installing {' '.join(CCUSAGE_PACKAGES)} into {node_dir} …", flush=True)
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(node_dir),
                 *CCUSAGE_PACKAGES],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0 or not binary.exists():
                return f"skipped: npm install failed ({done.stderr.strip()[-200:]})"
        self.ccusage = binary
        return binary

    def run(self, command: list[str], **kwargs: Any) -> Measure:
        """:func:`measure` with this run's timer and memory cap."""
        return measure(command, timer=self.timer, mem_limit=self.mem_limit, **kwargs)

    def tokaudit_cmd(self, *args: str) -> list[str]:
        return [self.tokaudit, *args]

    # -- one case -----------------------------------------------------------------------

    def run_case(self, kind: str, requests: int, repeat: int = 1) -> None:
        case, size = CASE_NAMES[kind], label(requests)
        res = self.results
        print(f"\n== {case} {size}", flush=True)
        found = self.ensure_data(kind, requests)
        if isinstance(found, str):
            res.rows.append(Row(case, size, "(all)", note=found))
            res.check(case, size, "data", None, found)
            return
        folder, expected = found
        source = folder / expected["input"]
        input_bytes = expected["bytes"]
        warm = _warm(source)
        res.data.append(
            {
                "case": case,
                "size": size,
                "files": expected["files"],
                "lines": expected["lines"],
                "mib": input_bytes / MIB,
                "generate_s": expected.get("generate_seconds"),
                "warm_read_s": warm,
            }
        )
        want = _expected_canonical(expected)
        rows = requests
        tokaudit = self.has_adapter(kind)
        ccusage = self.ensure_ccusage() if kind == "claude-code" else None
        binary = ccusage if isinstance(ccusage, Path) else None
        runs = self.measure_rounds(kind, folder, source, repeat, tokaudit=tokaudit, ccusage=binary)
        for tool, measured in runs.items():
            res.raw += [{"case": case, "size": size, "tool": tool, **asdict(m)} for m in measured]
        run = {tool: combined(measured) for tool, measured in runs.items()}

        def record(tool: str, measure: Measure, check: str = "", note: str = "") -> Row:
            row = Row(case, size, tool, measure.wall, rows, measure.rss_mib, check, note,
                      measure.walls)  # fmt: skip
            res.rows.append(row)
            return row

        # --- tokaudit ---------------------------------------------------------------
        report: dict[str, Any] | None = None
        e2e: Measure | None = None  # ingest + report, when tokaudit ran
        if not tokaudit:
            why = "skipped: adapter not available (`tokaudit formats` lists no claude-code)"
            res.rows.append(Row(case, size, "tokaudit (ingest + report)", note=why))
            res.check(case, size, "tokaudit", None, why)
        else:
            ingest_cold = run["ingest"]
            ok = ingest_cold.returncode == 0
            summary = (ingest_cold.stdout.strip().splitlines() or ["?"])[-1]
            record(
                "tokaudit ingest (empty store)",
                ingest_cold,
                "" if ok else f"exit {ingest_cold.returncode}: {summary[:120]}",
            )
            res.check(
                case, size, "ingest exit code 0", ok, f"exit {ingest_cold.returncode}: {summary}"
            )
            again = run["ingest-again"]
            share = again.wall / ingest_cold.wall if ingest_cold.wall else 0
            record("tokaudit ingest (unchanged tree)", again, f"{share:.1%} of first ingest")
            res.check(
                case, size, "unchanged re-ingest near-free (≤ 10% of first, or ≤ 2 s)",
                share <= 0.10 or again.wall <= 2.0,
                f"{again.wall:.2f} s = {share:.1%} of {ingest_cold.wall:.2f} s "
                f"(CLI start-up alone: {self.startup:.2f} s)",
            )  # fmt: skip
            gib = (ingest_cold.rss_mib or 0) / 1024
            res.check(
                case, size, "ingest peak RSS < 4 GiB", (ingest_cold.rss_mib or 0) < 4 * 1024,
                f"{gib:.2f} GiB",
            )  # fmt: skip
            ratio = (ingest_cold.rss_mib or 0) * MIB / input_bytes
            res.check(
                case, size, "ingest peak RSS well under the input size (< 50%)",
                ratio < 0.5 if requests >= 1_000_000 else None,
                f"{ingest_cold.rss_mib or 0:,.0f} MiB for {input_bytes / MIB:,.0f} MiB of input "
                f"({ratio:.0%})" + ("" if requests >= 1_000_000 else "; judged from 1M up"),
            )  # fmt: skip
            report_rules, plain = run["report"], run["report-no-rules"]
            if report_rules.returncode == 0:
                report = json.loads((folder / "report.json").read_text(), parse_float=Decimal)
            findings = len(report["findings"]) if report else 0
            record(
                "tokaudit report --format json",
                report_rules,
                f"{findings} findings" if report else _why(report_rules, self.mem_limit),
            )
            record(
                "tokaudit report --format json --no-rules",
                plain,
                "" if plain.returncode == 0 else _why(plain, self.mem_limit),
            )
            detectors = report_rules.wall - plain.wall
            res.check(
                case, size, "report finishes well under a minute (< 60 s)",
                report_rules.wall < 60, f"{report_rules.wall:.2f} s with rules",
            )  # fmt: skip
            if (report_rss := report_rules.rss_mib) is not None:
                res.check(
                    case, size, "report peak RSS < 4 GiB (the ingest's bound)",
                    report_rss < 4096, f"{report_rss / 1024:.2f} GiB with rules",
                )  # fmt: skip
            res.check(
                case, size, "all rules run in seconds (rules − no-rules < 10 s)",
                detectors < 10, f"{detectors:.2f} s for {len(report['findings']) if report else 0} "
                f"findings ({report_rules.wall:.2f} s vs {plain.wall:.2f} s)",
            )  # fmt: skip
            if report:
                got = {k: int(report["totals"][k]) for k in ("requests", *TOKENS)}
                ok, detail = _totals_equal(got, want, ("requests", *TOKENS))
                res.check(case, size, "tokaudit totals = generator's expected", ok, detail)
            else:
                res.check(case, size, "tokaudit report", False, _why(report_rules, self.mem_limit))
            # Each round's sum, so the median of the sums (not the sum of two medians).
            e2e = combined(
                [replace(a, wall=a.wall + b.wall, rss_mib=max(a.rss_mib or 0, b.rss_mib or 0))
                 for a, b in zip(runs["ingest"], runs["report"], strict=True)]
            )  # fmt: skip
            record("**tokaudit end to end** (ingest + report)", e2e)

        # --- the floor: bare Polars ------------------------------------------------
        floor_run, floor_out = run["polars"], _baseline_output(run["polars"])
        floor_row = record("polars bare scan + group-by (floor)", floor_run)
        if floor_out:
            ok, detail = _totals_equal(floor_out["totals"], want, ("requests", *TOKENS))
            res.check(case, size, "polars floor totals = expected", ok, detail)
        if e2e is not None:
            ratio = e2e.wall / floor_run.wall
            floor_row.check = f"tokaudit = {ratio:.1f}× this"
            res.check(
                case, size, "tokaudit end to end within 1.5× the bare Polars scan",
                ratio <= 1.5, f"{e2e.wall:.2f} s vs {floor_run.wall:.2f} s = {ratio:.1f}×",
            )  # fmt: skip

        # --- DuckDB ------------------------------------------------------------------
        duck_run, duck_out = run["duckdb"], _baseline_output(run["duckdb"])
        duck_row = record("duckdb sql", duck_run)
        if duck_out:
            ok, detail = _totals_equal(duck_out["totals"], want, ("requests", *TOKENS))
            res.check(case, size, "duckdb totals = expected", ok, detail)
            if report:
                got = {k: int(report["totals"][k]) for k in ("requests", *TOKENS)}
                ok, detail = _totals_equal(got, duck_out["totals"], ("requests", *TOKENS))
                duck_row.check = "tokens = tokaudit" if ok else "tokens ≠ tokaudit"
                res.check(case, size, "tokaudit tokens = duckdb tokens", ok, detail)
                if "cost_usd" in duck_out["totals"]:
                    theirs = Decimal(duck_out["totals"]["cost_usd"])
                    ours = Decimal(report["totals"]["cost_usd"])
                    same = _cents(ours) == _cents(theirs)
                    duck_row.check += ", $ = tokaudit" if same else ", $ ≠ tokaudit"
                    res.check(
                        case, size, "tokaudit cost = duckdb sum(cost_total) to the cent", same,
                        f"${ours} vs ${theirs} (difference ${ours - theirs})",
                    )  # fmt: skip
        # --- ccusage --------------------------------------------------------------------
        if isinstance(ccusage, str):
            res.rows.append(Row(case, size, "ccusage", note=ccusage))
            res.check(case, size, "ccusage", None, ccusage)
        elif "ccusage" in run:
            self.check_ccusage(case, size, run["ccusage"], want, report, e2e, record)

    def measure_rounds(
        self,
        kind: str,
        folder: Path,
        source: Path,
        repeat: int,
        *,
        tokaudit: bool,
        ccusage: Path | None,
    ) -> dict[str, list[Measure]]:
        """Every command of a case, ``repeat`` times, one round after another.

        Rounds interleave the tools, so a change in the shared machine's load during the
        case falls on all of them alike instead of on whichever ran then; each row then
        shows the median of its runs (see :func:`combined`).
        """
        store = folder / "store"
        ingest = self.tokaudit_cmd("ingest", str(source), "--store", str(store))
        ingest += ["--quiet", "--no-progress"]
        report = self.tokaudit_cmd(
            "report", "--month", "2026-06", "--format", "json", "--store", str(store),
            "--now", REPORT_NOW,
        )  # fmt: skip
        steps: list[tuple[str, list[str], dict[str, Any]]] = []
        if tokaudit:
            steps += [
                ("ingest", ingest, {}),
                ("ingest-again", ingest, {}),
                ("report", report, {"stdout_path": folder / "report.json"}),
                ("report-no-rules", [*report, "--no-rules"],
                 {"stdout_path": folder / "report-no-rules.json"}),
            ]  # fmt: skip
        for tool in ("polars", "duckdb"):
            command = [self.python, str(BENCH / "baselines.py"), tool, "--kind", kind, str(source)]
            steps.append((tool, command, {}))
        if ccusage is not None:
            command = [str(ccusage), "claude", "monthly", "--offline", "--json"]
            command += ["--timezone", "UTC"]
            steps.append(
                ("ccusage", command, {"env": {**self.env, "CLAUDE_CONFIG_DIR": str(folder)}})
            )
        runs: dict[str, list[Measure]] = {tool: [] for tool, _, _ in steps}
        for number in range(1, repeat + 1):
            if repeat > 1:
                print(f"  round {number} of {repeat}", flush=True)
            shutil.rmtree(store, ignore_errors=True)  # every round's first ingest starts empty
            for tool, command, options in steps:
                options = {"env": self.env, "cwd": folder, **options}
                measured = self.run(command, **options)
                runs[tool].append(measured)
                rss = "?" if measured.rss_mib is None else f"{measured.rss_mib:,.0f} MiB"
                print(f"    {tool:<18} {measured.wall:8.2f} s  {rss:>10}  "
                      f"rc={measured.returncode}", flush=True)  # fmt: skip
                if measured.returncode != 0 and tool in {"polars", "duckdb"}:
                    print(f"  {tool} failed: {measured.stderr.strip()[-400:]}", flush=True)
        return runs

    def check_ccusage(
        self,
        case: str,
        size: str,
        run: Measure,
        want: dict[str, int],
        report: dict[str, Any] | None,
        e2e: Measure | None,
        record: Any,
    ) -> None:
        res = self.results
        row = record("ccusage claude monthly --offline --json", run)
        if run.returncode != 0:
            res.check(case, size, "ccusage", False, f"exit {run.returncode}: {run.stderr[-200:]}")
            return
        months = json.loads(run.stdout)["monthly"]
        month: dict[str, Any] = next((m for m in months if m["month"] == "2026-06"), {})
        theirs = {
            "input_tokens": month.get("inputTokens"),
            "output_tokens": month.get("outputTokens"),
            "cache_write_tokens": month.get("cacheCreationTokens"),
            "cached_input_tokens": month.get("cacheReadTokens"),
        }
        keys = tuple(theirs)
        ok, detail = _totals_equal(theirs, want, keys)
        res.check(case, size, "ccusage totals = expected", ok, detail)
        if report and e2e:
            ours = {k: int(report["totals"][k]) for k in keys}
            ok, detail = _totals_equal(ours, theirs, keys)
            row.check = "tokens = tokaudit" if ok else "tokens ≠ tokaudit"
            res.check(case, size, "tokaudit tokens = ccusage tokens", ok, detail)
            ratio = e2e.wall / run.wall
            row.check += f"; tokaudit = {ratio:.1f}× this"
            res.check(
                case, size, "tokaudit ingest + report no slower than ccusage (≤ 1.0×)",
                ratio <= 1.0, f"{e2e.wall:.2f} s vs {run.wall:.2f} s = {ratio:.2f}×",
            )  # fmt: skip
        else:
            res.check(
                case, size, "tokaudit vs ccusage", None,
                "skipped: tokaudit has no Claude Code adapter yet",
            )  # fmt: skip

    # -- report -------------------------------------------------------------------------

    def write(self, started: datetime, load_start: tuple[float, float, float]) -> Path:
        res = self.results
        versions = _versions(self.python, self.ccusage)
        load_end = os.getloadavg()
        timing = (
            "GNU /usr/bin/time -v" if self.timer else "getrusage(RUSAGE_CHILDREN) in a launcher"
        )
        lines = [
            f"# tokaudit benchmark — {started:%Y-%m-%d %H:%M} UTC",
            "",
            f"- machine: {_machine()}",
            f"- source: {_source_state()} (other engineers edit the tree concurrently)",
            f"- tokaudit: `{self.tokaudit}`; python {sys.version.split()[0]}; "
            + ", ".join(f"{k} {v}" for k, v in versions.items()),
            f"- timing: wall clock around a fresh process per row; peak RSS via {timing}; "
            "page cache warmed before timing (every tool reads from memory)",
            f"- tokaudit bytecode: {self.bytecode}",
            f"- load average (1, 5, 15 min) at start {load_start[0]:.2f} {load_start[1]:.2f} "
            f"{load_start[2]:.2f}, at end {load_end[0]:.2f} {load_end[1]:.2f} "
            f"{load_end[2]:.2f} (a shared machine adds noise)",
            f"- command: `{' '.join(sys.argv)}`; address-space cap per process: "
            + (f"{self.mem_limit / GIB:.0f} GiB" if self.mem_limit else "none"),
            "",
            "## Results",
            "",
            markdown_table(res.rows),
            "",
            "wall s = the median of the runs (each a fresh process; rounds interleave the "
            "tools); rows/s = requests (Claude Code: API messages) ÷ that wall time; peak RSS "
            "= the largest of the runs.",
            "",
            "## Checks",
            "",
        ]
        lines += [f"- **{c.verdict}** {c.case} {c.size} — {c.name}: {c.detail}" for c in res.checks]
        lines += [
            "",
            "## Data",
            "",
            "| case | size | files | lines | MiB | generate s | warm-up read s |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for d in res.data:
            lines.append(
                f"| {d['case']} | {d['size']} | {d['files']:,} | {d['lines']:,} | "
                f"{d['mib']:,.0f} | {d['generate_s'] if d['generate_s'] is not None else '—'} | "
                f"{d['warm_read_s']:.1f} |"
            )
        text = "\n".join(lines) + "\n"
        out_dir = self.args.results
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"results-{started:%Y-%m-%d-%H%M}.md"
        path.write_text(text, encoding="utf-8")
        raw = {
            "started": started.isoformat(),
            "rows": [asdict(r) for r in res.rows],
            "checks": [asdict(c) for c in res.checks],
            "data": res.data,
            "runs": res.raw,
        }
        path.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str) + "\n")
        print("\n" + text)
        print(f"wrote {path}")
        return path


def _default_tokaudit() -> str:
    beside = Path(sys.executable).parent / "tokaudit"
    if beside.exists():
        return str(beside)
    return shutil.which("tokaudit") or "tokaudit"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100k,1M,10M", help="comma-separated request counts")
    parser.add_argument("--quick", action="store_true", help="only 100k (plus the CC tree)")
    parser.add_argument(
        "--kinds", default="jsonl,openrouter,claude-code", help="jsonl, openrouter, claude-code"
    )
    parser.add_argument("--cc-messages", default="200k", help="size of the Claude Code tree")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N",
        help="rounds of every command per request-size case (the table shows medians)",
    )  # fmt: skip
    parser.add_argument(
        "--cc-repeat", type=int, default=5, metavar="N",
        help="rounds for the Claude Code case, whose ccusage comparison is close (default 5)",
    )  # fmt: skip
    parser.add_argument("--tokaudit", default=_default_tokaudit(), help="the tokaudit to measure")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the helpers")
    parser.add_argument("--data", type=Path, default=BENCH / "data")
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--regenerate", action="store_true", help="rewrite data even if present")
    parser.add_argument("--no-gnu-time", action="store_true", help="use getrusage instead")
    parser.add_argument(
        "--mem-limit",
        type=float,
        default=16,
        metavar="GIB",
        help="address-space cap per measured process (0: none); protects a shared machine",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.cc_repeat < 1:
        parser.error("--repeat and --cc-repeat must be at least 1")
    sizes = [parse_count(s) for s in ("100k" if args.quick else args.sizes).split(",")]
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = set(kinds) - set(INPUT)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    args.data = args.data.resolve()
    bench = Bench(args)
    if not bench.timer:
        print(
            "note: GNU time not found; peak RSS from getrusage (Debian: apt-get install time)",
            file=sys.stderr,
        )
    started = datetime.now(UTC)
    load_start = os.getloadavg()
    for requests in sizes:
        for kind in kinds:
            if kind != "claude-code":
                bench.run_case(kind, requests, args.repeat)
    if "claude-code" in kinds:
        bench.run_case("claude-code", parse_count(args.cc_messages), args.cc_repeat)
    bench.write(started, load_start)
    failed = [c for c in bench.results.checks if c.ok is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
