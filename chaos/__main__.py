"""``python -m chaos`` (``make chaos CHAOS_ARGS=...``): one run; exit status 1 on any violation."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chaos.run import Options, run
from chaos.schedule import KINDS


def parse(argv: list[str] | None = None) -> Options:
    kinds = "\n".join(f"  {k:<12} {v}" for k, v in KINDS.items())
    parser = argparse.ArgumentParser(
        prog="python -m chaos", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start an isolated platform on a local Kafka cluster, drive open-loop checkouts through the "
        "gateway, inject faults from a seed, heal, wait until every accepted order is final, and report every "
        "invariant with its violations, goodput and the faults (JSON under --output).",
        epilog=f"fault kinds:\n{kinds}")
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load and faults (default 600)")
    parser.add_argument("--rate", type=float, default=10.0, help="checkouts offered per second (default 10)")
    parser.add_argument("--seed", type=int, default=1, help="the schedule's and the shoppers' seed (default 1)")
    parser.add_argument("--faults", default=",".join(KINDS), help="comma-separated kinds (default: all)")
    parser.add_argument("--count", type=int, default=None, help="faults in all (default one per 5 s)")
    parser.add_argument("--brokers", type=int, default=3, help="Kafka nodes (default 3; broker faults need 3)")
    parser.add_argument("--heal-bound", type=float, default=180.0,
                        help="seconds every order has to become final after healing (default 180)")
    parser.add_argument("--output", type=Path, default=Options().output, help="where reports go (default var/chaos)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a platform setting for this run, e.g. --set BROKER_SESSION_TIMEOUT=6 (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the brokers' logs and the workers' tables under the run's folder, to read them "
                             "after a violation (kafka-dump-log); by default only the report and the logs stay")
    a = parser.parse_args(argv)
    faults = [k.strip() for k in a.faults.split(",") if k.strip()]
    if a.brokers < 3 and "broker" in faults and a.faults == ",".join(KINDS):
        faults.remove("broker")  # the default kinds on one node: all but what one node cannot survive
    bad = [s for s in a.set if "=" not in s]
    if bad:
        parser.error(f"--set takes NAME=VALUE, not {bad[0]!r}")
    if a.duration <= 0 or a.rate <= 0:
        parser.error("--duration and --rate must be positive")
    return Options(duration_s=a.duration, rate=a.rate, seed=a.seed, faults=faults, count=a.count, brokers=a.brokers,
                   heal_bound_s=a.heal_bound, output=a.output, env=dict(s.split("=", 1) for s in a.set),
                   keep=a.keep)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    opts = parse(argv)
    try:
        report = run(opts)
    except ValueError as exc:  # a schedule that cannot be run as asked
        print(f"chaos: {exc}", file=sys.stderr)
        return 2
    return 0 if report["violations"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
