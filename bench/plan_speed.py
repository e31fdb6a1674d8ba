"""How long `scalestack plan --stack prod --format json` takes, wall clock, as a user runs it.

Run: .venv/bin/python bench/plan_speed.py [--stack prod | --stack-file FILE] [--runs 7]
Target (issue 2): the prod plan finishes in under 5 s on a 2-core machine; (issue 12) so does a stack of
five services, bench/stacks/Pulumi.services.yaml. Each run is a fresh process,
so the figure includes interpreter start-up and importing the Pulumi AWS SDK, as a user sees it.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_SECONDS = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--stack-file", help="a stack file instead of a shipped stack")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    scalestack = Path(sys.executable).with_name("scalestack")
    which = ["--stack-file", args.stack_file] if args.stack_file else ["--stack", args.stack]
    command = [str(scalestack), "plan", *which, "--format", "json"]
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - started)
    median = statistics.median(timings)
    print(f"command: {' '.join(command)}")
    print(f"runs: {args.runs}  median: {median:.2f} s  min: {min(timings):.2f} s  max: {max(timings):.2f} s")
    print(f"target: < {TARGET_SECONDS:.1f} s  -> {'met' if median < TARGET_SECONDS else 'MISSED'}")


if __name__ == "__main__":
    main()
