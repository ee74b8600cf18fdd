"""Benchmark of the JookSMS HTTP API against a real ``jooksms serve`` process.

Usage: ``.venv/bin/python bench/api.py [--backend sqlite|postgres|both] [--quick]``

Per backend: the framework ceiling (an empty FastAPI app served the same way), single
sends with wrk, ``to_many`` with 10,000 recipients, and list/search latency on an
account seeded with 1,000,000 messages. Prints a table of figures against targets and
writes it to ``bench/results/api-<backend>.json``. Missed targets are reported, not
fatal; a non-2xx answer or a wrong result is (exit status 1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cpu
import httpx
import orjson
from httpload import Latencies, WrkRun, percentile, timed_requests, wrk_post
from seeding import FORMAT, Corpus, seed_postgres, seed_sqlite
from servers import (
    BENCH,
    POSTGRES_URL,
    Server,
    cli,
    postgres_reachable,
    recreate_postgres,
    serve_empty_app,
    serve_jooksms,
)

RESULTS = BENCH / "results"
CACHE = RESULTS / "cache"
LOGS = RESULTS / "logs"

WRK_THREADS, WRK_CONNECTIONS = 1, 32
SEND_TARGET = 2_500.0
TO_MANY_TARGET_MS = 250.0
LIST_TARGET_MS = 20.0
SEARCH_TARGET_MS = 50.0
RSS_GROWTH_LIMIT = 0.10
TO_MANY_SIZE = 10_000
SEEDED_NUMBER, WRITER_NUMBER = "+50760000001", "+50760000002"
SEND_BODY = {"to": "+50768819519", "body": "Your JookSMS verification code is 482913"}


@dataclass(frozen=True, slots=True)
class Profile:
    messages: int
    wrk_seconds: int
    warmup_seconds: int
    to_many_requests: int
    reads: int
    frequent_reads: int
    quiet_wait: float


FULL = Profile(
    messages=1_000_000,
    wrk_seconds=10,
    warmup_seconds=2,
    to_many_requests=20,
    reads=200,
    frequent_reads=20,
    quiet_wait=60,
)
QUICK = Profile(
    messages=100_000,
    wrk_seconds=3,
    warmup_seconds=1,
    to_many_requests=10,
    reads=100,
    frequent_reads=10,
    quiet_wait=5,
)
#: A measurement during which other processes used more CPU than this is flagged.
NOISY_CORES = 0.3


@dataclass(slots=True)
class Metric:
    metric: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    text: str | None = None
    note: str = ""

    def figure(self) -> str:
        if self.text is not None:
            return self.text
        if self.unit == "ms":
            return f"{self.value:,.1f} ms"
        if self.unit == "%":
            return f"{self.value:.0f} %"
        if self.unit == "MiB":
            return f"{self.value:,.0f} MiB"
        return f"{self.value:,.0f}{' ' + self.unit if self.unit else ''}"

    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


@dataclass(slots=True)
class Report:
    backend: str
    profile: Profile
    metrics: list[Metric] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, metric: str, value: float, unit: str = "", **kw: Any) -> None:
        self.metrics.append(Metric(metric, value, unit, **kw))

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.failures.append(problem)
            print(f"\n!!! FAILURE: {problem}\n", flush=True)


@dataclass(frozen=True, slots=True)
class Database:
    url: str
    seeded_account: int
    writer_account: int
    corpus: Corpus
    seed_seconds: float | None


# -- setup -----------------------------------------------------------------------------


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: install it (e.g. `sudo apt-get install -y wrk`) and rerun")
    print("wrk is missing; installing it with apt-get ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    if not shutil.which("wrk"):
        sys.exit("could not install wrk")


def schema_key() -> str:
    """Changes whenever the migrations (or the DDL they import) change."""
    from alembic.script import ScriptDirectory

    from jooksms.db import migrate, schema_extras

    head = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
    digest = hashlib.sha256()
    for path in [*sorted((migrate.MIGRATIONS / "versions").glob("*.py")), schema_extras.__file__]:
        digest.update(Path(path).read_bytes())
    return f"{head}-{digest.hexdigest()[:12]}"


def create_accounts(url: str) -> tuple[int, int]:
    seeded = cli(url, "account", "create", "--name", "bench-seeded", "--number", SEEDED_NUMBER)
    writer = cli(url, "account", "create", "--name", "bench-writer", "--number", WRITER_NUMBER)
    return int(seeded["id"]), int(writer["id"])


def prepare_sqlite(profile: Profile, workdir: Path) -> Database:
    """A copy of a cached seeded database; the cache is built when the schema or the
    generated rows have changed."""
    stem = CACHE / f"sqlite-{schema_key()}-f{FORMAT}-{profile.messages}"
    meta_path = stem.with_suffix(".json")
    if not meta_path.exists():
        _build_sqlite_cache(profile, stem)
    meta = json.loads(meta_path.read_text())
    print(f"  using the seeded SQLite database {stem.name}.db from the cache", flush=True)
    work = workdir / "bench.db"
    shutil.copyfile(stem.with_suffix(".db"), work)
    return Database(
        url=f"sqlite:///{work}",
        seeded_account=meta["seeded_account"],
        writer_account=meta["writer_account"],
        corpus=Corpus(profile.messages),
        seed_seconds=meta["seed_seconds"],
    )


def _build_sqlite_cache(profile: Profile, stem: Path) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"sqlite-*-{profile.messages}.*"):
        old.unlink()
    building = stem.with_suffix(".building.db")
    building.unlink(missing_ok=True)
    url = f"sqlite:///{building}"
    seeded, writer = create_accounts(url)
    started = time.monotonic()
    print(f"  seeding {profile.messages:,} messages into SQLite ...", flush=True)
    seed_sqlite(building, Corpus(profile.messages), account_id=seeded, from_number=SEEDED_NUMBER)
    seconds = time.monotonic() - started
    print(f"  seeded in {seconds:.0f} s", flush=True)
    building.rename(stem.with_suffix(".db"))
    meta = {"seeded_account": seeded, "writer_account": writer, "seed_seconds": seconds}
    stem.with_suffix(".json").write_text(json.dumps(meta))


def prepare_postgres(profile: Profile) -> Database:
    recreate_postgres(POSTGRES_URL)
    cli(POSTGRES_URL, "db", "upgrade")
    seeded, writer = create_accounts(POSTGRES_URL)
    corpus = Corpus(profile.messages)
    started = time.monotonic()
    print(f"  seeding {profile.messages:,} messages into PostgreSQL ...", flush=True)
    seed_postgres(POSTGRES_URL, corpus, account_id=seeded, from_number=SEEDED_NUMBER)
    seconds = time.monotonic() - started
    print(f"  seeded in {seconds:.0f} s", flush=True)
    return Database(POSTGRES_URL, seeded, writer, corpus, seconds)


def token_for(server: Server, url: str, account: int) -> str:
    client = cli(url, "client", "create", "--account", str(account), "--name", "bench")
    response = httpx.post(
        server.base_url + "/api/v1/oauth/access_token",
        data={"client_id": client["client_id"], "client_secret": client["client_secret"]},
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


# -- measurements ----------------------------------------------------------------------


def _wrk(
    report: Report,
    server: Server,
    body: dict[str, Any],
    token: str | None,
    *,
    warmup: bool = False,
) -> WrkRun:
    """One wrk run against the send route; a measured run must see only 2xx answers."""
    profile = report.profile
    seconds = profile.warmup_seconds if warmup else profile.wrk_seconds
    run = wrk_post(
        server,
        "/api/v1/sms",
        body,
        threads=WRK_THREADS,
        connections=WRK_CONNECTIONS,
        seconds=seconds,
        token=token,
    )
    if not warmup:
        report.check(run.non_2xx == 0, f"{run.non_2xx} non-2xx answers under wrk")
        report.check(run.socket_errors == 0, f"{run.socket_errors} socket errors under wrk")
    return run


def measure_ceiling(report: Report) -> float:
    print("- framework ceiling (empty FastAPI app) ...", flush=True)
    with serve_empty_app(LOGS / f"{report.backend}-empty-app.log") as server:
        _settle(report)
        _wrk(report, server, SEND_BODY, None, warmup=True)
        run = _wrk(report, server, SEND_BODY, None)
    report.add("framework ceiling", run.rps, "req/s", note=_noise(run.cpu))
    report.add("framework ceiling: CPU", run.cpu.server, "cores", text=run.cpu.describe(False))
    report.details["ceiling"] = _wrk_details(run)
    return run.rps


def measure_sends(report: Report, server: Server, token: str, ceiling: float) -> None:
    print("- single sends ...", flush=True)
    _settle(report)
    _wrk(report, server, SEND_BODY, token, warmup=True)
    before = _settled_total(server, token)
    run = _wrk(report, server, SEND_BODY, token)
    stored = _settled_total(server, token) - before
    report.add(
        "single sends",
        run.rps,
        "req/s",
        target=f">= {SEND_TARGET:,.0f}/s",
        met=run.rps >= SEND_TARGET,
        note=_noise(run.cpu),
    )
    report.add("single sends: latency p50", run.p50_ms, "ms")
    report.add("single sends: latency p99", run.p99_ms, "ms")
    report.add("single sends: non-2xx", run.non_2xx, "", target="0", met=run.non_2xx == 0)
    report.add("single sends: share of ceiling", 100 * run.rps / ceiling, "%")
    report.add("single sends: CPU", run.cpu.server, "cores", text=_cpu_text(server, run.cpu))
    # wrk counts answers; requests in flight when it stops may be stored unanswered.
    report.check(
        run.requests <= stored <= run.requests + WRK_CONNECTIONS,
        f"sends: wrk counted {run.requests} answers but {stored} messages were stored",
    )
    report.details["sends"] = {**_wrk_details(run), "messages_stored": stored}


def _settle(report: Report) -> None:
    cpu.wait_for_quiet(NOISY_CORES, report.profile.quiet_wait)


def _noise(used: cpu.Usage) -> str:
    return f"noisy: others used {used.other:.2f} cores" if used.other > NOISY_CORES else ""


def _cpu_text(server: Server, used: cpu.Usage) -> str:
    return used.describe(server.database_marker is not None)


def _wrk_details(run: WrkRun) -> dict[str, Any]:
    return {k: v for k, v in asdict(run).items() if k != "output"} | {"rps": run.rps}


def _settled_total(server: Server, token: str) -> int:
    """The account's message total once requests still in flight from a wrk run that
    has just stopped are written (or not): two equal readings 0.2 s apart."""
    last, now = -1, _total(server, token)
    while now != last:
        time.sleep(0.2)
        last, now = now, _total(server, token)
    return now


def _total(server: Server, token: str) -> int:
    response = httpx.get(server.base_url + "/api/v1/sms", headers=_auth(token))
    response.raise_for_status()
    return int(response.json()["meta"]["pagination"]["total"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def to_many_bodies(count: int) -> list[bytes]:
    """``count`` bodies of 10,000 distinct Panama mobiles each, distinct across bodies."""
    return [
        orjson.dumps(
            {
                "body": "JookSMS promo: 20% off this weekend. Reply STOP to opt out.",
                "list": [{"to": f"+5076{i * TO_MANY_SIZE + j:07d}"} for j in range(TO_MANY_SIZE)],
            }
        )
        for i in range(count)
    ]


def measure_to_many(report: Report, server: Server, token: str) -> None:
    count = report.profile.to_many_requests
    print(f"- to_many: {count} requests of {TO_MANY_SIZE:,} recipients ...", flush=True)
    bodies = to_many_bodies(count)
    _settle(report)
    before = cpu.sample(server.pid, server.database_marker)
    times, rss = _post_to_many(report, server, token, bodies)
    used = cpu.usage(before, cpu.sample(server.pid, server.database_marker))
    if times:
        _report_to_many(report, times, rss, used)
        report.add("to_many 10k: CPU", used.server, "cores", text=_cpu_text(server, used))


def _post_to_many(
    report: Report, server: Server, token: str, bodies: list[bytes]
) -> tuple[list[float], dict[int, float]]:
    """Send the bodies one after another: the wall time of each, and the server's RSS
    after requests 1, 5, 10, 20 and the last."""
    checkpoints = {1, 5, 10, 20, len(bodies)}
    headers = {**_auth(token), "Content-Type": "application/json"}
    times: list[float] = []
    rss: dict[int, float] = {}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=120) as client:
        for n, body in enumerate(bodies, start=1):
            started = time.perf_counter()
            try:
                response = client.post("/api/v1/sms/to_many", content=body)
            except httpx.TransportError as exc:
                report.check(False, f"to_many #{n}: {exc!r}")
                break
            times.append((time.perf_counter() - started) * 1000)
            _check_to_many(report, response, n)
            if n in checkpoints:
                rss[n] = server.rss_mib()
    return times, rss


def _check_to_many(report: Report, response: httpx.Response, n: int) -> None:
    report.check(response.status_code == 200, f"to_many #{n}: HTTP {response.status_code}")
    if response.status_code != 200:
        return
    data = response.json()
    ids = data.get("ids", [])
    good = len(ids) == TO_MANY_SIZE and min(ids) > 0 and "errors" not in data
    report.check(good, f"to_many #{n}: not every recipient was accepted")


def _report_to_many(
    report: Report, times: list[float], rss: dict[int, float], used: cpu.Usage
) -> None:
    median = percentile(times, 50)
    report.add(
        "to_many 10k: median",
        median,
        "ms",
        target=f"< {TO_MANY_TARGET_MS:.0f} ms",
        met=median < TO_MANY_TARGET_MS,
        note=_noise(used),
    )
    report.add("to_many 10k: min", min(times), "ms")
    report.add("to_many 10k: p95", percentile(times, 95), "ms")
    report.add("to_many 10k: max", max(times), "ms")
    report.add("to_many 10k: messages/s at median", TO_MANY_SIZE / median * 1000, "msg/s")
    _report_rss(report, rss)
    report.details["to_many"] = {"ms": times, "rss_mib": rss}


def _report_rss(report: Report, rss: dict[int, float]) -> None:
    """RSS after the checkpoints, and its growth over the second half of the run: the
    first requests warm caches and allocator arenas up (it levels off by about the
    tenth), after that repeating the same request should not make it grow."""
    for n, mib in sorted(rss.items()):
        report.add(f"to_many 10k: server RSS after #{n}", mib, "MiB")
    if len(rss) < 2:
        return
    marks = sorted(rss)
    first = max(m for m in marks[:-1] if m <= max(marks[-1] // 2, marks[0]))
    growth = (rss[marks[-1]] - rss[first]) / rss[first]
    name = f"to_many 10k: RSS growth #{first} -> #{marks[-1]}"
    if marks[-1] < 20:  # too short a run to be past the warm-up: shown, not judged
        report.add(name, 100 * growth, "%", note="short run: still warming up")
        return
    target = f"<= {100 * RSS_GROWTH_LIMIT:.0f} %"
    report.add(name, 100 * growth, "%", target=target, met=growth <= RSS_GROWTH_LIMIT)


@dataclass(frozen=True, slots=True)
class ReadCase:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    target_ms: float | None
    requests: int


def read_cases(db: Database, profile: Profile) -> list[ReadCase]:
    corpus, n = db.corpus, profile.reads
    mid, rare, frequent = corpus.word_near(0.003), corpus.words[-1], corpus.words[9]

    def search(name: str, body: dict[str, Any], target: float | None, count: int) -> ReadCase:
        return ReadCase(name, "POST", "/api/v1/sms/search/messages", body, target, count)

    return [
        ReadCase("list page 1", "GET", "/api/v1/sms?page=1", None, LIST_TARGET_MS, n),
        search(f"search mid word '{mid}'", {"query": mid}, SEARCH_TARGET_MS, n),
        search(f"search rare word '{rare}'", {"query": rare}, SEARCH_TARGET_MS, n),
        search("search by number", {"number": corpus.numbers[0]}, SEARCH_TARGET_MS, n),
        search(
            f"search frequent word '{frequent}' (info)",
            {"query": frequent},
            None,
            profile.frequent_reads,
        ),
    ]


def measure_reads(report: Report, server: Server, token: str, db: Database) -> None:
    print(f"- list and search on {report.profile.messages:,} messages ...", flush=True)
    _settle(report)
    with httpx.Client(base_url=server.base_url, headers=_auth(token), timeout=60) as client:
        for case in read_cases(db, report.profile):
            send = _sender(client, case)
            result = timed_requests(send, case.requests, warmup=min(10, case.requests))
            _report_read(report, case, result)
    total = report.details["reads"]["list page 1"]["total"]
    report.check(
        total == report.profile.messages,
        f"list total is {total}, {report.profile.messages} messages were seeded",
    )


def _sender(client: httpx.Client, case: ReadCase) -> Callable[[], httpx.Response]:
    if case.method == "GET":
        return lambda: client.get(case.path)
    content = orjson.dumps(case.body)
    headers = {"Content-Type": "application/json"}
    return lambda: client.post(case.path, content=content, headers=headers)


def _report_read(report: Report, case: ReadCase, result: Latencies) -> None:
    total = int(result.last["meta"]["pagination"]["total"])
    if case.target_ms is None:
        report.add(f"{case.name}: p50", result.p50, "ms")
    else:
        report.add(
            f"{case.name}: p50",
            result.p50,
            "ms",
            target=f"< {case.target_ms:.0f} ms",
            met=result.p50 < case.target_ms,
        )
    report.add(f"{case.name}: p99", result.p99, "ms")
    if case.path != "/api/v1/sms?page=1":
        share = 100 * total / report.profile.messages
        report.add(f"{case.name}: rows matched", total, f"rows ({share:.2f} %)")
    reads = report.details.setdefault("reads", {})
    reads[case.name] = {
        "requests": case.requests,
        "p50_ms": result.p50,
        "p99_ms": result.p99,
        "total": total,
        "ms": result.ms,
    }


# -- one backend -----------------------------------------------------------------------


def run_backend(backend: str, profile: Profile) -> Report:
    """Measure one backend; an error ends it early but keeps what was measured."""
    report = Report(backend, profile)
    print(f"\n=== {backend} ===", flush=True)
    try:
        _measure_backend(report)
    except Exception as exc:
        report.check(False, f"the run stopped early: {type(exc).__name__}: {exc}")
    write_json(report)
    return report


def _measure_backend(report: Report) -> None:
    backend, profile = report.backend, report.profile
    with tempfile.TemporaryDirectory(prefix="jooksms-bench-") as tmp:
        db = (
            prepare_sqlite(profile, Path(tmp)) if backend == "sqlite" else prepare_postgres(profile)
        )
        report.details["seed_seconds"] = db.seed_seconds
        ceiling = measure_ceiling(report)
        with serve_jooksms(db.url, LOGS / f"{backend}-jooksms.log") as server:
            report.details["server_pid"] = server.pid
            measure_reads(report, server, token_for(server, db.url, db.seeded_account), db)
            writer = token_for(server, db.url, db.writer_account)
            measure_sends(report, server, writer, ceiling)
            measure_to_many(report, server, writer)


def write_json(report: Report) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "backend": report.backend,
        "profile": asdict(report.profile),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_end": os.getloadavg(),
        },
        "wrk": f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d{report.profile.wrk_seconds}s",
        "metrics": [asdict(m) | {"figure": m.figure()} for m in report.metrics],
        "failures": report.failures,
        "details": report.details,
    }
    path = RESULTS / f"api-{report.backend}.json"
    path.write_text(json.dumps(doc, indent=2, default=str))
    print(f"  wrote {path.relative_to(BENCH.parent)}", flush=True)


def print_table(reports: list[Report]) -> None:
    rows = [("backend", "metric", "figure", "target", "result", "note")]
    for r in reports:
        rows += [
            (r.backend, m.metric, m.figure(), m.target, m.verdict(), m.note) for m in r.metrics
        ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = "-+-".join("-" * w for w in widths)
    print()
    for i, row in enumerate(rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print(line)
    print(
        f"\nLatency targets are judged on p50. Throughput: wrk -t{WRK_THREADS} "
        f"-c{WRK_CONNECTIONS} on the same {os.cpu_count()}-core machine as the server. CPU in "
        "cores over the measurement; 'other' is everything else on the machine, and a note "
        f"'noisy' marks a figure taken while it exceeded {NOISY_CORES} cores."
    )


# -- main ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="small and short: a smoke run")
    return parser.parse_args()


def backends(choice: str) -> list[str]:
    if choice == "sqlite":
        return ["sqlite"]
    reachable = postgres_reachable()
    if choice == "postgres" and not reachable:
        sys.exit("PostgreSQL is not reachable (set BENCH_POSTGRES_URL)")
    if choice == "postgres":
        return ["postgres"]
    if not reachable:
        print("PostgreSQL is not reachable: benchmarking SQLite only", flush=True)
    return ["sqlite", "postgres"] if reachable else ["sqlite"]


def main() -> int:
    args = parse_args()
    profile = QUICK if args.quick else FULL
    ensure_wrk()
    print(
        f"JookSMS API benchmark ({'quick' if args.quick else 'full'}): "
        f"{profile.messages:,} seeded messages, wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} "
        f"-d{profile.wrk_seconds}s after a {profile.warmup_seconds} s warm-up.\n"
        f"Note: this machine has {os.cpu_count()} cores; wrk runs on the same machine and "
        "competes with the server for CPU. Load average now: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        flush=True,
    )
    reports = [run_backend(b, profile) for b in backends(args.backend)]
    print_table(reports)
    failures = [f"{r.backend}: {f}" for r in reports for f in r.failures]
    if failures:
        print("\n!!! THE RUN FAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
