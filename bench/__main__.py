"""``python -m bench`` (``make bench``): measure the platform; print one table, write JSON and a chart.

    python -m bench                          # start an isolated platform, full run (a few minutes)
    python -m bench --quick                  # a few seconds of load per phase
    python -m bench --workload flash         # only the flash sale (every order the same SKU)
    python -m bench --gateway http://127.0.0.1:8080   # a running platform; the rest from the environment
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
from pathlib import Path

from bench.report import ratios, table, targets, write
from bench.run import FULL, QUICK, WORKLOAD_CHOICES, measure
from bench.stack import Stack, running_platform, started_platform

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few seconds of load per phase (tests use this)")
    ap.add_argument("--gateway", metavar="URL",
                    help="measure the platform running behind this gateway; broker, services and MySQL "
                         "come from the environment (the README's settings)")
    ap.add_argument("--output", metavar="DIR", type=Path, default=RESULTS,
                    help=f"where the JSON and the chart go (default {RESULTS})")
    ap.add_argument("--latency-seconds", type=float, help="length of the half-capacity phase (full: 60)")
    ap.add_argument("--step-seconds", type=float, help="length of each ramp step (full: 10)")
    ap.add_argument("--rates", help="ramp rates, comma-separated checkouts/s, for both ramps (full: 2,3,4,6,...,113)")
    ap.add_argument("--workload", choices=WORKLOAD_CHOICES, default="all",
                    help="usual: the mix of 1-3 random SKUs per order (per order, capacity, latency, cost); "
                         "flash: only a capacity ramp where every order is 1 x the iPhone 15; "
                         "all (default): the usual mix, then the flash sale")
    ap.add_argument("--recovery-after", metavar="N,M",
                    help="measure each stateful worker's recovery (kill, wipe, restart) once the run has placed "
                         "N orders, then M (topped up at 80%% of the measured capacity); default: once, at the end")
    ap.add_argument("--skip-ceilings", action="store_true", help="skip the broker and bare-agent ceilings")
    ap.add_argument("--profile", action="store_true",
                    help="sample every worker with py-spy during the latency phase (pip install py-spy); "
                         "raw stacks under OUTPUT/profiles/, the top functions in the table")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    profile = QUICK if args.quick else FULL
    changes = {}
    if args.latency_seconds:
        changes["latency_s"] = args.latency_seconds
    if args.step_seconds:
        changes["step_s"] = args.step_seconds
    if args.rates:
        changes["ramp_rates"] = tuple(float(x) for x in args.rates.split(","))
    profile = dataclasses.replace(profile, **changes)
    recovery_after = tuple(int(x) for x in args.recovery_after.split(",")) if args.recovery_after else ()

    def log(line: str) -> None:
        print(line, flush=True)

    def go(stack: Stack) -> dict:
        return asyncio.run(measure(stack, profile, log, skip_ceilings=args.skip_ceilings, workload=args.workload,
                                   log_dir=args.output / "logs",
                                   profile_dir=args.output / "profiles" if args.profile else None,
                                   recovery_after=recovery_after))

    if args.gateway:
        with tempfile.TemporaryDirectory(prefix="megatron-bench-") as tmp:
            result = go(running_platform(args.gateway, Path(tmp)))
    else:
        with started_platform(log) as stack:
            result = go(stack)
    result["ratios"] = ratios(result)
    result["targets"] = targets(result)
    json_path, png = write(result, args.output)
    print()
    print(table(result))
    print()
    print(f"figures: {json_path}")
    print(f"chart:   {png}")
    print("note: timings from a shared machine are noisy; compare runs, not single figures.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
