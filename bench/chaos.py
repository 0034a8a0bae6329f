"""The chaos run: 1,000 messages each way through the real stack while the MSN server drops
the bridge user's connections at random and the bridge restarts; prints what was lost,
duplicated or reordered.

Run with ``python bench/chaos.py [--db postgres|sqlite] [-n 1000] [--conversations 4]
[--ns-drops 8] [--sb-drops 8] [--restarts 1] [--seed 1]``. It starts our MSN test server (in
this process), PostgreSQL (tests/support/pg.py), Synapse and the bridge as its own process
(tests/support/harness.py) and runs the scenario of tests/support/chaos.py twice on the same
stack: first without faults (the baseline: how long the same traffic takes undisturbed), then
with the faults. Exit status 0 only if the faulty run lost, duplicated and reordered nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
import argparse
import asyncio
import sys
import time

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stack import bench_stack
from tests.support.chaos import ChaosPlan, describe, run_chaos


async def run(args: argparse.Namespace) -> int:
    async with bench_stack(
        "bench-chaos-", args.db, keep=args.keep, log_level=args.log_level
    ) as stack:
        plan = ChaosPlan(
            messages_each_way=args.n,
            conversations=args.conversations,
            ns_drops=args.ns_drops,
            sb_drops=args.sb_drops,
            bridge_restarts=args.restarts,
            seed=args.seed,
        )
        code = 0
        try:
            async with asyncio.timeout(args.timeout):
                t = time.monotonic()
                await stack.start()
                print(
                    f"stack up in {time.monotonic() - t:.1f} s ({stack.workdir})", file=sys.stderr
                )
                calm = replace(plan, ns_drops=0, sb_drops=0, bridge_restarts=0)
                baseline = await run_chaos(stack, calm)
                print("== baseline (no faults) ==")
                print(describe(baseline))
                await stack.close_clients()
                result = await run_chaos(stack, plan)
                print("== with faults ==")
                print(describe(result))
                print(
                    f"time with faults / baseline: {result.seconds / baseline.seconds:.2f}x "
                    f"({result.seconds:.1f} s / {baseline.seconds:.1f} s)"
                )
                if not (baseline.clean and result.clean):
                    code = 1
            errors = stack.bridge.errors_since(0)
            print(f"bridge errors/tracebacks logged: {len(errors)}")
            for error in errors[:5]:
                print(f"  {error[:400]}")
        except TimeoutError:
            print(f"!! gave up after {args.timeout} s\n{stack.failure_report()}")
            code = 2
        return code


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="postgres")
    ap.add_argument("-n", type=int, default=1000, help="messages each way (default 1000)")
    ap.add_argument("--conversations", type=int, default=4)
    ap.add_argument("--ns-drops", type=int, default=8)
    ap.add_argument("--sb-drops", type=int, default=8)
    ap.add_argument("--restarts", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log-level", default="INFO", help="bridge log level (default INFO)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="overall limit in seconds")
    ap.add_argument("--keep", action="store_true", help="keep the work dir with the logs")
    args = ap.parse_args()
    if args.n < args.conversations or args.conversations < 1:
        ap.error("need at least one conversation and a message per conversation")
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
