"""Shared helpers for the performance benchmarks (``bench/perf_*.py``).

Every benchmark measures one thing against a baseline in the same run, on SQLite and PostgreSQL
where a database is involved, and hands its results to ``save_results``, which keeps them in
``bench/results/perf/<benchmark>.json`` and rewrites the combined table in
``bench/results/perf.md`` and in the "Performance targets" section of ``bench/README.md``.

PostgreSQL: 127.0.0.1, user postgres, trust authentication (``PMDESK_BENCH_POSTGRES_URL``
overrides the admin URL); each run creates its own database ``pmdesk_bench_<pid>`` and drops it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results" / "perf"
BEFORE_DIR = RESULTS_DIR / "before"
REPORT = ROOT / "bench" / "results" / "perf.md"
README = ROOT / "bench" / "README.md"
BEGIN, END = "<!-- perf:begin -->", "<!-- perf:end -->"

POSTGRES_ADMIN_URL = os.environ.get(
    "PMDESK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ("sqlite", "postgresql")

# The order of the combined table.
BENCHMARKS = ("startup", "personnel", "security", "login", "login_gui")


# ----- the machine --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def load_average() -> str:
    try:
        return ", ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    """Date, cores, CPU, RAM and versions: the line above every table."""
    import sqlite3

    info = {
        "date": dt.date.today().isoformat(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "nproc": str(os.cpu_count() or "?"),
        "cpu": cpu_model(),
        "ram": f"{ram_gib():.0f} GiB",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "load": load_average(),
    }
    try:
        import PySide6

        info["pyside6"] = PySide6.__version__
    except ImportError:
        pass
    return info


def describe_machine(info: dict[str, str]) -> str:
    parts = [
        f"{info['date']}",
        f"{info['os']}",
        f"{info['cpu']}",
        f"nproc {info['nproc']}",
        f"{info['ram']} RAM",
        f"Python {info['python']}",
    ]
    if "pyside6" in info:
        parts.append(f"PySide6 {info['pyside6']}")
    parts.append(f"SQLite {info['sqlite']}")
    if "postgresql" in info:
        parts.append(f"PostgreSQL {info['postgresql']}")
    return ", ".join(parts) + f"; load average before the run {info['load']}"


# ----- databases ----------------------------------------------------------------------------


def postgres_problem() -> str | None:
    """None when the PostgreSQL admin URL answers, else why not."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}"
    return None


def postgres_version() -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES_ADMIN_URL)
    with engine.connect() as conn:
        version = str(conn.execute(text("SHOW server_version")).scalar())
    engine.dispose()
    return version.split()[0]


@contextmanager
def postgres_database(suffix: str = "") -> Iterator[str]:
    """A new database ``pmdesk_bench_<pid>[_suffix]`` on the server; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"pmdesk_bench_{os.getpid()}" + (f"_{suffix}" if suffix else "")
    admin_url = make_url(POSTGRES_ADMIN_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database_url(engine: str, folder: Path, name: str = "bench") -> Iterator[str]:
    """An empty database on ``engine``: a SQLite file in ``folder`` or a PostgreSQL database."""
    if engine == "sqlite":
        path = folder / f"{name}.sqlite3"
        for leftover in folder.glob(f"{name}.sqlite3*"):
            leftover.unlink()
        yield f"sqlite:///{path}"
    elif engine == "postgresql":
        with postgres_database(name) as url:
            yield url
    else:
        raise ValueError(engine)


def engines_to_run(requested: Sequence[str]) -> list[str]:
    """The engines asked for, less PostgreSQL when it cannot be reached (said on stderr)."""
    chosen = []
    for engine in requested:
        if engine == "postgresql":
            problem = postgres_problem()
            if problem:
                print(f"skipping postgresql: {problem}", flush=True)
                continue
        chosen.append(engine)
    return chosen


ADMIN_LOGIN = "bench.admin"
ADMIN_PASSWORD = "correct horse 42"  # a benchmark value, not a secret


def add_admin(url: str, *, email: str = "bench.admin@example.com") -> int:
    """The signed-in administrator of the GUI benchmarks (group Administrator, every right)."""
    from argon2 import PasswordHasher

    from pmdesk.core.context import Actor, CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.passwords import Passwords
    from pmdesk.core.personnel import PersonForm, PersonnelService
    from pmdesk.secrets import MemoryStore

    db = Database(url)
    try:
        ctx = CoreContext(db, MemoryStore(), Path("outbox"))
        cheap = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        record = PersonnelService(ctx, cheap).create(
            Actor.system("bench"),
            PersonForm(
                login=ADMIN_LOGIN,
                password=ADMIN_PASSWORD,
                password_confirm=ADMIN_PASSWORD,
                first_name="Bench",
                last_name="Admin",
                email=email,
                group_id=1,
            ),
        )
        return record.id
    finally:
        db.dispose()


# ----- measuring ----------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000.0


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any], repeat: int, *, warmup: int = 1) -> list[float]:
    """Wall times (s) of ``repeat`` calls after ``warmup`` unrecorded ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def rss_mib(pid: int | str = "self") -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB, from /proc (psutil is not a dependency)."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


# ----- Qt -----------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout_s: float = 60.0, poll_ms: int = 1) -> None:
    """Run the Qt event loop until ``predicate()`` holds (checked every ``poll_ms``)."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():
        return
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s
    failed: list[bool] = []

    def check() -> None:
        if predicate():
            loop.quit()
        elif time.monotonic() > deadline:
            failed.append(True)
            loop.quit()

    timer = QTimer()
    timer.setInterval(poll_ms)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if failed:
        raise TimeoutError(f"not done within {timeout_s} s")


def run_for(seconds: float) -> None:
    """Run the Qt event loop for a while."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


# ----- results ------------------------------------------------------------------------------


@dataclass
class Result:
    """One line of the combined table."""

    what: str
    engine: str  # "sqlite", "postgresql" or "-" (no database)
    value: float
    unit: str  # "ms", "MiB", "x"
    baseline: float | None
    baseline_label: str
    target: str
    met: bool
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def save_results(
    benchmark: str,
    results: list[Result],
    info: dict[str, str],
    method: str,
    *,
    before: bool = False,
) -> None:
    """Keep the results and rewrite the combined table (README and results/perf.md)."""
    folder = BEFORE_DIR if before else RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": benchmark,
        "machine": info,
        "method": method,
        "results": [asdict(r) for r in results],
    }
    (folder / f"{benchmark}.json").write_text(
        json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    if not before:
        write_report()
    for r in results:
        mark = "ok" if r.met else "MISSED"
        base = f" (baseline {r.baseline:.1f} {r.baseline_label})" if r.baseline is not None else ""
        print(f"{mark:6} {r.what} [{r.engine}]: {r.value:.1f} {r.unit}{base}; target {r.target}")


def _load(folder: Path) -> dict[str, dict[str, Any]]:
    found = {}
    for name in BENCHMARKS:
        path = folder / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text(encoding="utf-8"))
    return found


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "x":
        return f"{value:.2f}x"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def render_table() -> str:
    current, before = _load(RESULTS_DIR), _load(BEFORE_DIR)
    if not current:
        return "No results yet: run the benchmarks (see above)."
    lines = [
        "| what | engine | before fixes | now | baseline, same run | target | met |",
        "| --- | --- | ---: | ---: | ---: | --- | :---: |",
    ]
    dates: set[str] = set()
    machines: list[str] = []
    methods: list[str] = []
    for name, payload in current.items():
        info = payload["machine"]
        dates.add(info["date"])
        described = f"`{name}`: {describe_machine(info)}"
        machines.append(described)
        methods.append(f"- `bench/perf_{name}.py`: {payload['method']}")
        old = {
            (r["what"], r["engine"]): r
            for r in before.get(name, {}).get("results", [])  # type: ignore[union-attr]
        }
        for r in payload["results"]:
            was = old.get((r["what"], r["engine"]))
            baseline = (
                f"{_fmt(r['baseline'], r['unit'] if r['unit'] != 'x' else 'ms')} "
                f"{r['baseline_label']}".strip()
                if r["baseline"] is not None
                else r["baseline_label"] or "—"
            )
            detail = f" ({r['detail']})" if r.get("detail") else ""
            lines.append(
                f"| {r['what']}{detail} | {r['engine']} "
                f"| {_fmt(was['value'], was['unit']) if was else '—'} "
                f"| {_fmt(r['value'], r['unit'])} | {baseline} | {r['target']} "
                f"| {'yes' if r['met'] else '**no**'} |"
            )
    head = "Measured " + ", ".join(sorted(dates)) + " (2-core VM shared with other work):\n\n"
    head += "\n".join(f"- {m}" for m in machines) + "\n\n"
    return head + "\n".join(lines) + "\n\nHow each line is measured:\n\n" + "\n".join(methods)


def write_report() -> None:
    table = render_table()
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        "# Performance targets: results\n\n"
        "Written by `bench/perf_*.py` (see `bench/README.md`); one line per target and "
        'engine. "before fixes" is the first run, before the changes made to meet the '
        "targets.\n\n" + table + "\n",
        encoding="utf-8",
    )
    if README.exists():
        text = README.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            new = re.sub(
                re.escape(BEGIN) + ".*?" + re.escape(END),
                lambda _m: f"{BEGIN}\n{table}\n{END}",
                text,
                flags=re.DOTALL,
            )
            if new != text:
                README.write_text(new, encoding="utf-8")


def compile_sources() -> None:
    """Byte-compile pmdesk as an installation would (pip and PyInstaller ship .pyc files).

    With PYTHONDONTWRITEBYTECODE set (as on this machine) an editable checkout never gets
    them, and every child process would compile pmdesk's modules from source again: tens of
    milliseconds no installed app pays."""
    import compileall

    compileall.compile_dir(ROOT / "pmdesk", quiet=1)


def standard_arguments(parser: Any) -> None:
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="comma-separated: sqlite,postgresql (default: both)",
    )
    parser.add_argument(
        "--before",
        action="store_true",
        help="keep these results as the 'before fixes' column instead of the current one",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="print only; do not touch results or README"
    )
