"""Load benchmark of the app template on loopback: wrk against the app under gunicorn.

Starts a PostgreSQL primary + streaming replica and Redis (free 127.0.0.1 ports), the app twice as its
image runs it (with replica and Redis; primary only), then measures what users hit and each case's
throughput relative to the trivial endpoint:

    python3 bench/app/run.py [--duration 3] [--rounds 3] [--connections 64] [--threads 1] [--items 1000]

Every server it starts is stopped when it ends. Traffic goes to 127.0.0.1 only and each run is bounded
by --duration.
"""

import argparse
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app_template"
VENV = APP_DIR / ".venv"
# Targets of issue 10: each case's throughput relative to the trivial endpoint, measured in one round.
TARGETS = {"cached": 0.6, "replica": 0.3, "page": 0.25, "write": 0.15}
Case = tuple[str, str, str, Path | None]
"""(name, what is requested, URL path, wrk script)"""


def reexec_in_app_venv() -> None:
    """The benchmarks import the app's test harness, so they run on the app's own virtualenv: this
    re-runs the script that was started (run.py, profile.py, sql_overhead.py) there."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    subprocess.run(["make", "-s", "-C", str(APP_DIR), ".venv/.installed-dev"], check=True)
    python = str(VENV / "bin" / "python")
    os.execv(python, [python, str(Path(sys.argv[0]).resolve()), *sys.argv[1:]])


def ensure_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk:
        return wrk
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing; installing it from Debian (apt-get install -y wrk)", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        wrk = shutil.which("wrk")
    if not wrk:
        sys.exit("wrk is not installed: apt-get install -y wrk (Debian) and run again")
    return wrk


# wrk scripts. Every request picks a random id or cursor, so no single hot key flatters a case.
CACHED_LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/items/" .. math.random(1, {items}))
end
"""
UNCACHED_LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/items?limit={limit}&cursor=" .. math.random(0, {items} - 1))
end
"""
# The normal create: with two tags of 200, so it enqueues the tag-count task (inline without a broker).
# Not one tag shared by every request: that would measure PostgreSQL's lock queue on one counter row.
WRITE_LUA = """
math.randomseed(os.time())
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local a, b = math.random(1, 100), math.random(101, 200)
  local body = '{{"name": "bench item", "price": 9.99, "tags": ["t' .. a .. '", "t' .. b .. '"]}}'
  return wrk.format("POST", "/api/items", nil, body)
end
"""


@dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    command: str
    requests: int = 0
    worker_cpu_us: float = 0.0
    """CPU (user + system) the app's worker processes spent per request: where a case's cost lies."""
    machine_busy: float = 0.0
    """Share of the machine's CPU time in use during the run: near 1.0, the case is CPU-bound."""


_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (gunicorn's workers), from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a worker that exited (recycled) during the run
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def _machine_ticks() -> tuple[int, int]:
    """(idle, total) CPU ticks of the whole machine since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def run_wrk(
    wrk: str, name: str, url: str, path: str, args: argparse.Namespace, script: Path | None
) -> Result:
    argv = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url + path)
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=args.duration + 60).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+(?:us|ms|s|m))\s*$", out, re.MULTILINE))
    if set(latency) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{out}")

    def percentile(key: str) -> float:
        number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", latency[key]).groups()  # type: ignore[union-attr]
        return _ms(number, unit)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    if errors:
        print(f"{name}: errors in this run\n{out}", file=sys.stderr)
    return Result(name, rps, percentile("50"), percentile("99"), errors, shlex.join(argv), requests)


def measured_run(
    wrk: str,
    name: str,
    url: str,
    path: str,
    args: argparse.Namespace,
    script: Path | None,
    workers: list[int],
) -> Result:
    """`run_wrk`, with the workers' CPU per request and how busy the machine was meanwhile."""
    cpu_before, (idle_before, total_before) = cpu_seconds(workers), _machine_ticks()
    result = run_wrk(wrk, name, url, path, args, script)
    cpu_after, (idle_after, total_after) = cpu_seconds(workers), _machine_ticks()
    result.worker_cpu_us = (cpu_after - cpu_before) / max(result.requests, 1) * 1e6
    result.machine_busy = 1 - (idle_after - idle_before) / max(total_after - total_before, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=3, help="seconds per case and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the cores)")
    parser.add_argument("--items", type=int, default=1000, help="rows seeded before the reads")
    args = parser.parse_args()
    reexec_in_app_venv()
    # Stopped by a signal, it still runs the clean-up below and stops every server it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = ensure_wrk()

    work = Path(tempfile.mkdtemp(prefix="app-bench-"))
    try:
        with serving(work, args.items) as apps:
            cases = bench_cases(work, args.items)
            # Rounds interleave the cases and the two set-ups, so a neighbour's load on the shared
            # cores skews them alike; each ratio compares runs of the same round and set-up.
            rounds = [
                {setup: _measure(wrk, app, cases, args) for setup, app in apps.items()}
                for _ in range(args.rounds)
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    report(rounds, [(name, label) for name, label, _, _ in cases], args)


@contextmanager
def serving(work: Path, items: int) -> Iterator[dict[str, "_App"]]:
    """The two set-ups, served as the image serves the app, over `items` seeded rows: {"full": app
    with a PostgreSQL primary + streaming replica and Redis, "bare": the same primary only}. Every
    server is stopped on the way out."""
    sys.path.insert(0, str(APP_DIR))
    from tests.servers import AppServer, PostgresCluster, RedisServer, postgres_bin_dir, running

    if postgres_bin_dir() is None or shutil.which("redis-server") is None:
        sys.exit("PostgreSQL and Redis are needed: apt-get install -y postgresql redis-server")
    pg = PostgresCluster(replicas=1)
    redis = RedisServer()
    try:
        redis.start()
        full = {
            "DATABASE_URL": pg.primary.url,
            "DATABASE_REPLICA_URLS": pg.replica_urls,
            "REDIS_URL": redis.url,
            "MIGRATE_ON_START": "true",
        }
        # The same PostgreSQL primary, no replica and no Redis: in-process cache, inline tasks.
        bare = {"DATABASE_URL": pg.primary.url, "MIGRATE_ON_START": "false"}
        workers = os.cpu_count() or 1
        with running(AppServer(full, work / "full.log", workers=workers)) as full_app:
            pg.primary.sql(
                "INSERT INTO items (name, price_cents, tags) "
                f"SELECT 'seed ' || n, n, '[]' FROM generate_series(1, {items}) AS n"
            )
            pg.primary.sql("ANALYZE items")
            pg.wait_replicated()
            with running(AppServer(bare, work / "bare.log", workers=workers)) as bare_app:
                yield {"full": full_app, "bare": bare_app}
    finally:
        redis.stop()
        pg.stop()


class _App(Protocol):
    url: str
    process: "subprocess.Popen[bytes] | None"


def _measure(wrk: str, app: _App, cases: list[Case], args: argparse.Namespace) -> list[Result]:
    assert app.process is not None
    workers = children(app.process.pid)
    results = []
    for name, _, path, script in cases:
        if name == "cached":
            # "Cached" means in the cache: every id in every worker's memory tier. Cached values go
            # stale after CACHE_TTL_SECONDS, and a round lasts longer, so each cached run is preceded
            # by an unmeasured pass over the same random ids.
            run_wrk(wrk, "warm-up", app.url, path, args, script)
        results.append(measured_run(wrk, name, app.url, path, args, script, workers))
    return results


def bench_cases(work: Path, items: int) -> list[Case]:
    """The cases, in the order they run, with their wrk scripts written to `work`."""
    scripts = _write_scripts(work, items)
    return [
        ("trivial", "GET /healthz", "/healthz", None),
        ("cached", f"GET /api/items/<random of {items}>", "/", scripts["cached"]),
        ("replica", "GET /api/items?limit=1&cursor=<random>", "/", scripts["replica"]),
        ("page", "GET /api/items?limit=20&cursor=<random>", "/", scripts["page"]),
        ("write", "POST /api/items with tags (+ task)", "/", scripts["write"]),
    ]


def _write_scripts(work: Path, items: int) -> dict[str, Path]:
    sources = {
        "cached": CACHED_LUA.format(items=items),
        "replica": UNCACHED_LUA.format(items=items, limit=1),
        "page": UNCACHED_LUA.format(items=items, limit=20),
        "write": WRITE_LUA.format(),
    }
    paths = {}
    for name, source in sources.items():
        paths[name] = work / f"{name}.lua"
        paths[name].write_text(source)
    return paths


def _ratio(rounds: list[dict[str, list[Result]]], setup: str, index: int) -> float:
    return statistics.median(r[setup][index].requests_per_s / r[setup][0].requests_per_s for r in rounds)


def report(
    rounds: list[dict[str, list[Result]]], cases: list[tuple[str, str]], args: argparse.Namespace
) -> None:
    cores = os.cpu_count()
    print(f"\napp template on loopback: gunicorn with {cores} uvicorn workers; wrk, PostgreSQL and Redis")
    wrk_flags = f"-t{args.threads} -c{args.connections} -d{args.duration}s"
    print(f"share the same {cores} cores. wrk {wrk_flags} per case, {args.rounds} interleaved rounds;")
    print("medians; ratio = median over rounds of (case req/s / trivial req/s in the same round and set-up).")
    print("full = primary + replica + Redis; bare = primary only, in-process cache, inline tasks.\n")
    print("cpu = CPU the app's workers spent per request (µs, user + system); busy = share of the machine in")
    print("use meanwhile (near 100%, the case is CPU-bound, and its cpu is what to cut).\n")
    columns = f"{'p99 ms':>7} {'cpu':>5} {'busy':>4} {'ratio':>5}"
    header = (
        f"{'case':<8} {'request':<38} {'full req/s':>10} {columns} {'target':>6} {'bare req/s':>10} {columns}"
    )
    print(header + f" {'errors':>6}")
    verdicts = []
    for index, (name, label) in enumerate(cases):
        row = f"{name:<8} {label:<38}"
        errors = 0
        for setup in ("full", "bare"):
            runs = [r[setup][index] for r in rounds]
            rps = statistics.median(run.requests_per_s for run in runs)
            p99 = statistics.median(run.p99_ms for run in runs)
            ratio = _ratio(rounds, setup, index)
            errors += sum(run.errors for run in runs)
            cpu = statistics.median(run.worker_cpu_us for run in runs)
            busy = statistics.median(run.machine_busy for run in runs)
            row += f" {rps:>10.0f} {p99:>7.2f} {cpu:>5.0f} {busy:>4.0%} {ratio:>5.2f}"
            if setup == "full":
                target = TARGETS.get(name)
                row += f" {target if target else '':>6}"
                if target:
                    verdicts.append(
                        f"{name} {ratio:.2f} vs {target}: {'met' if ratio >= target else 'MISSED'}"
                    )
        print(row + f" {errors:>6}")
    print("\ntargets (full set-up): " + "; ".join(verdicts))
    for setup in ("full", "bare"):
        per_round = " | ".join(
            ", ".join(
                f"{r[setup][i].requests_per_s / r[setup][0].requests_per_s:.2f}" for i in range(1, len(cases))
            )
            for r in rounds
        )
        print(f"{setup} ratios per round ({', '.join(name for name, _ in cases[1:])}): {per_round}")
    print("\nwrk commands of the last round (ports and script paths change per run):")
    for result in rounds[-1]["full"]:
        print(f"  {result.command}")
    script = os.path.relpath(sys.argv[0], REPO)
    print(f"\nproduced by (in {REPO}): python3 {shlex.join([script, *sys.argv[1:]])}")


if __name__ == "__main__":
    main()
