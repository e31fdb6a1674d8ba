"""Where a benchmark case's time goes: py-spy samples one of the app's workers while wrk runs the case,
on the same set-up as bench/app/run.py, and the samples are summed by what the code was doing:

    python3 bench/app/profile.py --case page [--setup full] [--duration 8] [--out page.txt] [--gc]

It prints each part's share of the worker's busy samples (database, Redis, tasks, request validation,
JSON, logging, the rest of the HTTP stack) and the functions with the most samples of their own, and
keeps the raw samples (`--out`, flamegraph.pl's collapsed format) for a flame graph. With `--gc` the
app's processes also time their garbage collections (gc.callbacks, loaded through a sitecustomize
module on PYTHONPATH), and it prints the sampled worker's collections over the same window: py-spy
counts their time to whatever Python code allocated at that moment. py-spy comes from
PyPI (installed into the app's virtualenv when missing) and needs ptrace, which root has. Every server
it starts is stopped at the end; traffic goes to 127.0.0.1 only, for `--duration` + 3 seconds.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import VENV, bench_cases, children, cpu_seconds, ensure_wrk, reexec_in_app_venv, serving

# A sample belongs to the first part whose marker appears in its stack (outermost frame first); the
# order matters, since a task's publishing uses Redis and a read's route runs inside the HTTP stack.
PARTS = [
    ("tasks (publisher thread: Celery, kombu)", ("app/publisher.py", "celery/", "kombu/")),
    ("database (SQLAlchemy, asyncpg, pool)", ("sqlalchemy/", "asyncpg/", "app/db.py", "greenlet")),
    ("Redis", ("redis/",)),
    ("request validation (FastAPI, pydantic)", ("solve_dependencies", "request_body_to_args", "pydantic")),
    ("JSON of the response (app.records, orjson)", ("app/records.py", "app/api/items.py", "orjson")),
    ("logging (structlog)", ("structlog/", "logging/")),
    ("HTTP stack (uvicorn, Starlette, FastAPI, middleware)", ("",)),
]
# Loaded into every process of the app by `--gc`: each forked worker writes how many collections of
# each generation it ran, their total time and its own CPU time to GC_PROBE_DIR/<pid>.json every second.
GC_PROBE = """
import gc, json, os, threading, time

_totals = {g: [0, 0.0] for g in range(3)}  # collections, seconds
_started = [0.0]


def _time(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
        return
    totals = _totals[info["generation"]]
    totals[0] += 1
    totals[1] += time.perf_counter() - _started[0]


def _write():
    path = os.path.join(os.environ["GC_PROBE_DIR"], f"{os.getpid()}.json")
    while True:
        with open(path + ".tmp", "w") as out:
            json.dump({"collections": _totals, "cpu": time.process_time()}, out)
        os.replace(path + ".tmp", path)
        time.sleep(1)


gc.callbacks.append(_time)
os.register_at_fork(after_in_child=lambda: threading.Thread(target=_write, daemon=True).start())
"""
# Leaves that mean the event loop was waiting for I/O, not working.
IDLE_LEAVES = ("Runner.run", "select", "poll", "epoll")


def _py_spy() -> str:
    py_spy = VENV / "bin" / "py-spy"
    if not py_spy.exists():
        print("py-spy is missing; installing it into the app's virtualenv (pip install py-spy)", flush=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "py-spy"], check=True)
    return str(py_spy)


def _short(frame: str) -> str:
    """`function (/long/path/to/package/module.py:123)` as `function (package/module.py)`."""
    function, _, location = frame.partition(" (")
    path = location.rstrip(")").rsplit(":", 1)[0]
    return f"{function} ({'/'.join(path.split('/')[-2:])})"


def summarize(raw: Path) -> tuple[Counter[str], Counter[str], int]:
    """(samples per part, samples per leaf function, busy samples) of py-spy's collapsed stacks."""
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue
        busy += count
        part = next(name for name, markers in PARTS if any(marker in stack for marker in markers))
        parts[part] += count
        leaves[_short(frames[-1])] += count
    return parts, leaves, busy


def _gc_totals(probe: Path, worker: int) -> dict[str, Any]:
    """The worker's collections so far ({"collections": {generation: [count, seconds]}, "cpu": seconds
    of CPU}), as of the probe's last write."""
    totals: dict[str, Any] = json.loads((probe / f"{worker}.json").read_text())
    return totals


def _install_gc_probe(work: Path) -> Path:
    """A sitecustomize module every app process started from now on loads (PYTHONPATH)."""
    probe = work / "gc-probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(GC_PROBE)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(probe), os.environ.get("PYTHONPATH")]))
    os.environ["GC_PROBE_DIR"] = str(probe)
    return probe


def _busiest(workers: list[int]) -> int:
    """The worker that spent the most CPU over a second of the load (the kernel may give one worker
    more of the connections, or a recycled one none)."""
    time.sleep(0.5)  # past wrk's connection set-up
    before = {pid: cpu_seconds([pid]) for pid in workers}
    time.sleep(1)
    return max(workers, key=lambda pid: cpu_seconds([pid]) - before[pid])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--case", default="page", choices=["trivial", "cached", "replica", "page", "write"])
    parser.add_argument("--setup", default="full", choices=["full", "bare"])
    parser.add_argument("--duration", type=int, default=8, help="seconds of sampling")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--out", type=Path, help="keep the raw samples here (collapsed stacks)")
    parser.add_argument("--gc", action="store_true", help="also time the worker's garbage collections")
    args = parser.parse_args()
    reexec_in_app_venv()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk, py_spy = ensure_wrk(), _py_spy()

    work = Path(tempfile.mkdtemp(prefix="app-profile-"))
    raw = args.out or work / "samples.txt"
    probe = _install_gc_probe(work) if args.gc else None
    gc_window: tuple[dict[str, Any], dict[str, Any]] | None = None
    try:
        with serving(work, args.items) as apps:
            app = apps[args.setup]
            assert app.process is not None
            workers = children(app.process.pid)
            _, _, path, script = next(case for case in bench_cases(work, args.items) if case[0] == args.case)
            load = [wrk, "-t1", f"-c{args.connections}", f"-d{args.duration + 3}s"]
            load += ["-s", str(script)] if script else []
            with subprocess.Popen([*load, app.url + path], stdout=subprocess.DEVNULL) as wrk_run:
                worker = _busiest(workers)
                gc_before = probe and _gc_totals(probe, worker)
                record = [py_spy, "record", "-p", str(worker), "-d", str(args.duration), "-r", "1000"]
                record += ["--nonblocking", "-f", "raw", "-o", str(raw)]
                subprocess.run(record, check=True, capture_output=True, timeout=args.duration + 30)
                if probe and gc_before:
                    time.sleep(1.1)  # the probe's next write
                    gc_window = (gc_before, _gc_totals(probe, worker))
                wrk_run.wait(timeout=args.duration + 30)
        report(raw, args)
        if gc_window:
            report_gc(*gc_window)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(raw: Path, args: argparse.Namespace) -> None:
    parts, leaves, busy = summarize(raw)
    print(f"\n{args.case} ({args.setup} set-up): {busy} busy samples of one worker at 1 kHz")
    for name, _ in PARTS:
        print(f"  {100 * parts[name] / max(busy, 1):5.1f}%  {name}")
    print("\nfunctions with the most samples of their own (time in C code counts to its Python caller):")
    for leaf, count in leaves.most_common(15):
        print(f"  {100 * count / max(busy, 1):5.1f}%  {leaf}")
    if args.out:
        print(f"\nraw samples: {args.out} (flamegraph.pl's collapsed format)")
    command = " ".join(sys.argv[1:])
    print(f"\nproduced by (from the repository root): python3 bench/app/profile.py {command}".rstrip())


def report_gc(before: dict[str, Any], after: dict[str, Any]) -> None:
    """The collections the sampled worker ran over the sampling window (to within the probe's second)."""
    cpu = after["cpu"] - before["cpu"]
    print(f"\ngarbage collection in that worker over the same window ({cpu:.2f} s of its CPU):")
    total = 0.0
    for generation, name in (("0", "young"), ("1", "middle"), ("2", "full")):
        count = after["collections"][generation][0] - before["collections"][generation][0]
        seconds = after["collections"][generation][1] - before["collections"][generation][1]
        total += seconds
        each = f"{seconds / count * 1000:.1f} ms each" if count else "none"
        print(f"  {name:<6} {count:6.0f} collections {seconds * 1000:8.1f} ms  ({each})")
    print(f"  {100 * total / max(cpu, 1e-9):5.1f}% of that CPU time")


if __name__ == "__main__":
    main()
