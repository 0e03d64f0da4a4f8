"""``make chaos``'s schedule and report, without a platform: same seed, same faults; the verdict counts."""

from __future__ import annotations

import pytest

from chaos.report import Outcome, goodput, percentiles, render
from chaos.schedule import KINDS, Fault, describe, plan
from chaos.shoppers import APPROVING_VPA, Visit
from config.settings import SERVICES
from dev.invariants import INVARIANTS


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    one = plan(7, 600, 120, list(KINDS), SERVICES, 3, 10.0)
    assert one == plan(7, 600, 120, list(KINDS), SERVICES, 3, 10.0)
    assert one != plan(8, 600, 120, list(KINDS), SERVICES, 3, 10.0)
    assert len(one) == 120 and all(0 <= f.at < 600 for f in one)
    assert [f.at for f in one] == sorted(f.at for f in one), "spread over the run, in order"
    assert {f.kind for f in one} == set(KINDS), "120 faults draw every kind"


def test_each_fault_is_drawn_as_its_kind_needs() -> None:
    faults = plan(3, 600, 300, list(KINDS), SERVICES, 3, 10.0)
    for f in faults:
        if f.kind in ("kill", "stop", "join"):
            assert f.target in SERVICES and f.lock == f.target
        if f.kind == "stop":
            assert f.hold_s > 10.0, "stopped for longer than the session timeout"
        if f.kind == "broker":
            assert f.target in ("broker-1", "broker-2", "broker-3") and f.lock == "broker", "one node down at a time"
        if f.kind == "upi":
            assert f.mode in ("error", "reset", "late")
    kills = [f for f in faults if f.kind == "kill"]
    assert 0 < sum(f.wipe for f in kills) < len(kills), "some kills wipe the data dir, some do not"


def test_a_schedule_that_cannot_run_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        plan(1, 60, 5, ["kill", "meteor"], SERVICES, 3, 10.0)
    with pytest.raises(ValueError, match="three nodes"):
        plan(1, 60, 5, ["broker"], SERVICES, 1, 10.0)


def test_describe_counts_wiped_kills_and_gateway_modes_apart() -> None:
    faults = [Fault(0, "kill", "orders", 1, wipe=True), Fault(1, "kill", "cart", 1), Fault(2, "upi", "upi-gateway", 2,
                                                                                           mode="late")]
    assert describe(faults) == {"kill": 1, "kill+wipe": 1, "upi:late": 1}


def test_percentiles_by_nearest_rank() -> None:
    assert percentiles(list(map(float, range(1, 101)))) == {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None, "max": None}


def report(violations: dict[str, int]) -> dict:  # type: ignore[type-arg]
    return {"run_id": "r", "seed": 1, "duration_s": 60, "rate": 5, "brokers": 3,
            "faults": {"by_kind": {"kill": 2}, "total": 2, "not_carried_out": [], "log": []},
            "workers_died_on_their_own": [],
            "orders": {"offered": 300, "accepted": 300, "final": 300, "lost": 0, "not_accepted": {},
                       "by_status": {"CONFIRMED": 250, "FAILED PAYMENT_DECLINED": 50}},
            "healing": {"healed_after_s": 62, "all_final_after_s": 4.5, "bound_s": 180},
            "restart_to_serving_s": {**percentiles([3.0, 7.0]), "count": 2, "target": 5, "within_target": 1,
                                     "by_phase": {"start": percentiles([1.5, 2.5]), "join": percentiles([0.5, 0.7]),
                                                  "restore": percentiles([]), "resume": percentiles([0.25]),
                                                  "total": percentiles([2.5, 3.5])}},
            "broker_restart_s": {"to_serving": percentiles([20.0, 30.0]), "to_in_sync": percentiles([25.0, 41.0]),
                                 "count": 2},
            "goodput": {"could_confirm": 200, "confirmed": 199, "share": 0.995, "target": 0.99,
                        "missed_by_reason": {"TIMED_OUT": 1}, "placed_to_final_s_during_faults": percentiles([0.1])},
            "invariants": {n: {"says": s, "violations": violations.get(n, 0),
                               "examples": [f"{n} broke"] * violations.get(n, 0)} for n, s in INVARIANTS.items()},
            "violations": sum(violations.values())}


def test_the_report_names_every_invariant_and_fails_on_any_violation() -> None:
    passed = render(report({}))
    assert passed.splitlines()[-1].startswith("verdict: PASS: 0 violation(s)")
    for name in INVARIANTS:
        assert f"    0  {name} " in passed
    assert "199 of 200 orders that could confirm did (99.5%" in passed and "TIMED_OUT 1" in passed
    assert "1 of 2 within 5 s" in passed
    assert "the worker's own phases, p50/p95: start 1.5/2.5 s, join 0.5/0.7 s, resume 0.25/0.25 s, " \
           "total 2.5/3.5 s" in passed
    assert "killed Kafka node to serving again: p50 20 s, p95 30 s, p99 30 s, max 30 s; " \
           "to every replica in sync: p50 25 s, p95 41 s" in passed
    failed = render(report({"double_charge": 2}))
    assert "    2  double_charge" in failed and "e.g. double_charge broke" in failed
    assert failed.splitlines()[-1].startswith("verdict: FAIL: 2 violation(s)")


def test_goodput_counts_the_orders_that_could_confirm_and_names_the_first_misses() -> None:
    def visit(n: int, vpa: str, skus: list[str]) -> Visit:
        return Visit(n=n, scheduled=100.0 + n, skus=skus, vpa=vpa, order_ids=[f"o{n}"], accepted_at=100.5 + n)

    def order(status: str, reason: str | None = None) -> dict:  # type: ignore[type-arg]
        return {"status": status, "reason": reason,
                "history": [{"status": "CREATED", "at": "2026-12-07T10:00:00+00:00"},
                            {"status": status, "at": "2026-12-07T10:00:02+00:00"}]}

    visits = [visit(1, APPROVING_VPA, ["IPHONE-15"]), visit(2, APPROVING_VPA, ["LAPTOP"]),
              visit(3, "declined@upi", ["LAPTOP"]),  # could not confirm: a declining payer
              visit(4, APPROVING_VPA, ["SCARCE-1", "LAPTOP"])]  # could not: a scarce SKU
    orders = {"o1": order("CONFIRMED"), "o2": order("FAILED", "TIMED_OUT"),
              "o3": order("FAILED", "PAYMENT_DECLINED"), "o4": order("FAILED", "OUT_OF_STOCK")}
    o = Outcome(seed=1, duration_s=60, rate=1, brokers=3, heal_bound_s=180, started=100.0, healed=200.0, injected=[],
                visits=visits, orders=orders, final_after_heal_s=1.0, stock_before={}, crashed=[],
                scarce=("SCARCE-1",))
    g = goodput(o)
    assert (g["could_confirm"], g["confirmed"], g["share"]) == (2, 1, 0.5)
    assert g["missed_by_reason"] == {"TIMED_OUT": 1}
    assert g["missed_examples"] == [{"order_id": "o2", "status": "FAILED", "reason": "TIMED_OUT", "placed_at_s": 2.5,
                                     "history": ["CREATED 2026-12-07T10:00:00+00:00",
                                                 "FAILED 2026-12-07T10:00:02+00:00"]}]
    assert g["placed_to_final_s_during_faults"]["max"] == 2.0
