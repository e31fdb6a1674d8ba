"""Load benchmark of the app template on loopback: wrk against the app under gunicorn.

Starts a PostgreSQL primary + streaming replica and Redis (Debian packages, free 127.0.0.1 ports), the app
as its image runs it, then measures four endpoints and their throughput relative to the trivial one:

    python3 bench/app/run.py [--duration 4] [--rounds 5] [--connections 64] [--threads 1] [--items 1000]

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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "app_template"
VENV = APP_DIR / ".venv"
TARGET_CACHED_RATIO = 0.6


def _reexec_in_app_venv() -> None:
    """The benchmark imports the app's test harness, so it runs on the app's own virtualenv."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    subprocess.run(["make", "-s", "-C", str(APP_DIR), ".venv/.installed-dev"], check=True)
    python = str(VENV / "bin" / "python")
    os.execv(python, [python, __file__, *sys.argv[1:]])


def _ensure_wrk() -> str:
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


# wrk scripts. Random cursors make every list read a different query that no cache holds.
UNCACHED_LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/items?limit=1&cursor=" .. math.random(0, {items} - 1))
end
"""
WRITE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name": "bench item", "price": 9.99}'
"""


@dataclass
class Result:
    name: str
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    command: str


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
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    if errors:
        print(f"{name}: errors in this run\n{out}", file=sys.stderr)
    return Result(name, rps, percentile("50"), percentile("99"), errors, shlex.join(argv))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=4, help="seconds per case and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (it shares the cores)")
    parser.add_argument("--items", type=int, default=1000, help="rows seeded before the reads")
    args = parser.parse_args()
    _reexec_in_app_venv()
    # Stopped by a signal, it still runs the clean-up below and stops every server it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = _ensure_wrk()

    sys.path.insert(0, str(APP_DIR))
    from tests.servers import AppServer, PostgresCluster, RedisServer, postgres_bin_dir, running

    if postgres_bin_dir() is None or shutil.which("redis-server") is None:
        sys.exit("PostgreSQL and Redis are needed: apt-get install -y postgresql redis-server")

    work = Path(tempfile.mkdtemp(prefix="app-bench-"))
    pg = PostgresCluster()
    redis = RedisServer()
    try:
        redis.start()
        env = {
            "DATABASE_URL": pg.primary.url,
            "DATABASE_REPLICA_URLS": pg.replica_urls,
            "REDIS_URL": redis.url,
            "MIGRATE_ON_START": "true",
        }
        server = AppServer(env, work / "app.log", workers=os.cpu_count() or 1)
        with running(server):
            pg.primary.sql(
                "INSERT INTO items (name, price_cents, tags) "
                f"SELECT 'seed ' || n, n, '[]' FROM generate_series(1, {args.items}) AS n"
            )
            pg.primary.sql("ANALYZE items")
            pg.wait_replicated()
            uncached = work / "uncached.lua"
            uncached.write_text(UNCACHED_LUA.format(items=args.items))
            write = work / "write.lua"
            write.write_text(WRITE_LUA)
            cases = [
                ("trivial: GET /healthz", "/healthz", None),
                ("cached: GET /api/items/1", "/api/items/1", None),
                ("replica: GET /api/items?cursor", "/api/items", uncached),
                ("write: POST /api/items", "/api/items", write),
            ]
            # Rounds interleave the cases, so a neighbour's load on the shared cores skews every case
            # alike; each ratio compares runs of the same round. Several short rounds also average out
            # how wrk's connections, all opened at once, happen to split between the workers.
            rounds = [
                [run_wrk(wrk, name, server.url, path, args, script) for name, path, script in cases]
                for _ in range(args.rounds)
            ]
    finally:
        redis.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)

    report(rounds, args)


def report(rounds: list[list[Result]], args: argparse.Namespace) -> None:
    cores = os.cpu_count()
    print(f"\napp template on loopback: gunicorn with {cores} uvicorn workers; wrk, PostgreSQL and Redis")
    wrk_flags = f"-t{args.threads} -c{args.connections} -d{args.duration}s"
    print(f"share the same {cores} cores. wrk {wrk_flags} per case, {args.rounds} interleaved rounds;")
    print("medians; ratio = median over rounds of (case req/s / trivial req/s in the same round).")
    print(f"{'case':<32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'errors':>7}")
    ratios: list[float] = []
    for index in range(len(rounds[0])):
        runs = [results[index] for results in rounds]
        ratio = statistics.median(
            results[index].requests_per_s / results[0].requests_per_s for results in rounds
        )
        ratios.append(ratio)
        rps = statistics.median(r.requests_per_s for r in runs)
        p50 = statistics.median(r.p50_ms for r in runs)
        p99 = statistics.median(r.p99_ms for r in runs)
        errors = sum(r.errors for r in runs)
        print(f"{runs[0].name:<32} {rps:>8.0f} {p50:>8.2f} {p99:>8.2f} {ratio:>6.2f} {errors:>7}")
    verdict = "met" if ratios[1] >= TARGET_CACHED_RATIO else "MISSED"
    per_round = ", ".join(
        f"{results[1].requests_per_s / results[0].requests_per_s:.2f}" for results in rounds
    )
    print(f"\ntarget: cached read >= {TARGET_CACHED_RATIO} of trivial: {verdict} ({ratios[1]:.2f})")
    print(f"cached/trivial per round: {per_round}")
    print("\nwrk commands of the last round (ports and script paths change per run):")
    for result in rounds[-1]:
        print(f"  {result.command}")
    script = os.path.relpath(sys.argv[0], REPO)
    print(f"\nproduced by (in {REPO}): python3 {shlex.join([script, *sys.argv[1:]])}")


if __name__ == "__main__":
    main()
