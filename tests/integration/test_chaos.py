"""The small chaos schedule of ``make test``: every fault kind under load, and no invariant broken.

A fixed seed, 90 s at 4 checkouts/s with 18 faults on a three-node Kafka cluster: the same run
``make chaos CHAOS_ARGS="--seed 4 --duration 90 --rate 4 --count 18"`` makes, on its own platform
(its own brokers, workers, databases and Redis keys; the session's platform is left alone).
Goodput and restart times are figures of the report, not assertions here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chaos.run import Options, run
from chaos.schedule import KINDS, plan
from config.settings import SERVICES

pytestmark = pytest.mark.integration

SMALL = Options(duration_s=90.0, rate=4.0, seed=4, count=18, brokers=3)


def test_the_small_schedule_draws_every_fault_kind() -> None:
    faults = plan(SMALL.seed, SMALL.duration_s, SMALL.fault_count, SMALL.faults, tuple(SERVICES), SMALL.brokers, 10.0)
    assert {f.kind for f in faults} == set(KINDS)
    assert any(f.wipe for f in faults) and any(f.kind == "kill" and not f.wipe for f in faults)


def test_a_fixed_seed_schedule_breaks_no_invariant(tmp_path: Path) -> None:
    report = run(replace(SMALL, output=tmp_path))
    broken = {name: inv["examples"][:3] for name, inv in report["invariants"].items() if inv["violations"]}
    assert broken == {}, broken
    assert report["violations"] == 0
    assert report["faults"]["not_carried_out"] == []
    assert report["faults"]["total"] == SMALL.fault_count
    assert report["workers_died_on_their_own"] == []
    nodes = [f for f in report["faults"]["log"] if f["fault"]["kind"] == "broker"]
    assert nodes and all(f["in_sync_s"] >= f["ready_s"] > 0 for f in nodes), nodes  # each node rejoined every ISR
    kills = [f for f in report["faults"]["log"] if f["fault"]["kind"] == "kill"]
    assert kills and all(f["startup_s"]["total"] > f["startup_s"]["start"] > 0 for f in kills), kills  # /health's
    orders = report["orders"]
    assert orders["accepted"] > 0.5 * SMALL.rate * SMALL.duration_s  # the load really ran through the faults
    assert orders["final"] == orders["accepted"] and orders["lost"] == 0
    assert report["healing"]["all_final_after_s"] is not None
    assert (tmp_path / f"{report['run_id']}.json").exists()
