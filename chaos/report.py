"""A chaos run's verdict: every invariant with its count of violations, goodput, and the faults.

Safety is judged by ``dev/invariants.py`` (the same checks as the failure tests) plus what only a
run can see: one Idempotency-Key answered with two orders, and orders still open past the bound
after healing. Goodput is the share of the orders that could confirm (approving VPA, no scarce
SKU, so stock was there) that did, and placed -> final while the faults ran.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from chaos.inject import Injected
from chaos.schedule import describe
from chaos.shoppers import APPROVING_VPA, Visit
from config.settings import Settings
from config.startup import PHASES
from dev.invariants import INVARIANTS, Stock, Violation, check, contradicted, skipped_records, unnotified

__all__ = ["Outcome", "judge", "render", "percentiles"]

#: how long the checks wait for compensations and the mirror to catch up before a finding counts
SETTLE_S = 60.0
RESTART_TARGET_S = 5.0
MISSED_EXAMPLES = 50


@dataclass
class Outcome:
    """What a run did and saw, before it is judged."""

    seed: int
    duration_s: float
    rate: float
    brokers: int
    heal_bound_s: float
    started: float  # wall clock
    healed: float
    injected: list[Injected]
    visits: list[Visit]
    orders: dict[str, dict[str, Any]]  # accepted order id -> the order service's answer after healing
    final_after_heal_s: float | None
    stock_before: Stock
    crashed: list[str]
    scarce: tuple[str, ...]


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and max (nearest rank), None for none."""
    if not values:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    v = sorted(values)
    pick = lambda q: round(v[min(len(v) - 1, max(0, round(q * len(v)) - 1))], 3)  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": round(v[-1], 3)}


async def _settled(probe: Any) -> Any:
    """The probe's findings once they are none, or as they stand after :data:`SETTLE_S`."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        found = await probe()
        if not found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(1.0)


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def goodput(o: Outcome) -> dict[str, Any]:
    could = [v for v in o.visits if v.order_id and v.vpa == APPROVING_VPA and not set(v.skus) & set(o.scarce)]
    statuses = [o.orders.get(v.order_id or "", {}) for v in could]
    confirmed = sum(1 for s in statuses if s.get("status") == "CONFIRMED")
    missed: dict[str, int] = {}
    for s in statuses:
        if s.get("status") != "CONFIRMED":
            why = s.get("reason") or s.get("status") or "unknown"
            missed[why] = missed.get(why, 0) + 1
    during = [o.orders[v.order_id] for v in o.visits
              if v.order_id in o.orders and v.accepted_at and v.accepted_at <= o.healed]
    took = [_epoch(order["history"][-1]["at"]) - _epoch(order["history"][0]["at"]) for order in during
            if order.get("status") in ("CONFIRMED", "FAILED") and order.get("history")]
    # the first misses with their steps, to lay beside the fault log and the workers' logs
    examples = [{"order_id": v.order_id, "status": s.get("status"), "reason": s.get("reason"),
                 "placed_at_s": round(v.accepted_at - o.started, 2) if v.accepted_at else None,
                 "history": [f"{h['status']} {h['at']}" for h in s.get("history", [])]}
                for v, s in zip(could, statuses) if s.get("status") != "CONFIRMED"][:MISSED_EXAMPLES]
    return {"could_confirm": len(could), "confirmed": confirmed,
            "share": round(confirmed / len(could), 4) if could else None, "target": 0.99,
            "missed_by_reason": dict(sorted(missed.items())), "missed_examples": examples,
            "placed_to_final_s_during_faults": percentiles(took)}


async def judge(o: Outcome, settings: Settings, http: aiohttp.ClientSession, run_id: str,
                output: Path) -> dict[str, Any]:
    """Every invariant checked, the report built, printed and written to ``output/<run id>.json``."""
    accepted = [v.order_id for v in o.visits if v.order_id]
    found: list[Violation] = [Violation("duplicate", f"key {v.key}: answered with orders {sorted(set(v.order_ids))}")
                              for v in o.visits if len(set(v.order_ids)) > 1]
    found += await _settled(lambda: check(settings, http, accepted, o.stock_before))
    found += [Violation("skipped", line) for line in skipped_records(settings.log_dir)]
    finals = [oid for oid, order in o.orders.items() if order.get("status") in ("CONFIRMED", "FAILED")]
    found += [Violation("notified", line) for line in await _settled(lambda: unnotified(settings, finals))]
    ended = {oid: str(o.orders[oid]["status"]) for oid in finals}
    found += [Violation("announced", line) for line in await contradicted(settings, ended)]
    by_invariant = {name: [v.text for v in found if v.invariant == name] for name in INVARIANTS}

    statuses: dict[str, int] = {}
    for order in o.orders.values():
        name = order.get("status") if order.get("status") != "FAILED" else f"FAILED {order.get('reason')}"
        statuses[str(name)] = statuses.get(str(name), 0) + 1
    restarts = [i.ready_s for i in o.injected if i.fault.kind == "kill" and i.ready_s is not None]
    nodes = [i for i in o.injected if i.fault.kind == "broker"]
    phases = [i.startup_s for i in o.injected if i.fault.kind == "kill" and i.startup_s]
    report = {
        "run_id": run_id, "seed": o.seed, "duration_s": o.duration_s, "rate": o.rate, "brokers": o.brokers,
        "faults": {"by_kind": describe([i.fault for i in o.injected]), "total": len(o.injected),
                   "not_carried_out": [{"fault": i.fault.as_json(), "error": i.error} for i in o.injected if i.error],
                   "log": [i.as_json() for i in o.injected]},
        "workers_died_on_their_own": o.crashed,
        "orders": {"offered": len(o.visits), "accepted": len(accepted),
                   "final": len(finals), "lost": len(by_invariant["lost"]),
                   "not_accepted": _errors(o.visits), "by_status": dict(sorted(statuses.items()))},
        "healing": {"healed_after_s": round(o.healed - o.started, 1), "all_final_after_s": o.final_after_heal_s,
                    "bound_s": o.heal_bound_s},
        "restart_to_serving_s": {**percentiles(restarts), "count": len(restarts), "target": RESTART_TARGET_S,
                                 "within_target": sum(1 for r in restarts if r <= RESTART_TARGET_S),
                                 "by_phase": {phase: percentiles([p[phase] for p in phases if phase in p])
                                              for phase in (*PHASES, "total")}},
        "broker_restart_s": {"to_serving": percentiles([i.ready_s for i in nodes if i.ready_s is not None]),
                             "to_in_sync": percentiles([i.in_sync_s for i in nodes if i.in_sync_s is not None]),
                             "count": len(nodes)},
        "goodput": goodput(o),
        "invariants": {name: {"says": says, "violations": len(by_invariant[name]),
                              "examples": by_invariant[name][:20]} for name, says in INVARIANTS.items()},
        "violations": len(found),
    }
    output.mkdir(parents=True, exist_ok=True)
    path = output / f"{run_id}.json"
    path.write_text(json.dumps(report, indent=2))
    print(render(report, path), flush=True)
    return report


def _errors(visits: list[Visit]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in visits:
        if not v.order_id:
            out[v.error or "unknown"] = out.get(v.error or "unknown", 0) + 1
    return dict(sorted(out.items()))


def _ms(p: dict[str, Any], unit: str = "s") -> str:
    return ", ".join(f"{k} {v:g} {unit}" for k, v in p.items() if k in ("p50", "p95", "p99", "max") and v is not None) \
        or "none"


def render(r: dict[str, Any], path: Path | None = None) -> str:
    """The report as an operator reads it: faults, orders, goodput, then every invariant."""
    o, g, h, rs = r["orders"], r["goodput"], r["healing"], r["restart_to_serving_s"]
    share = f"{g['share'] * 100:.1f}%" if g["share"] is not None else "n/a"
    lines = [
        f"make chaos, run {r['run_id']}: seed {r['seed']}, {r['duration_s']:g} s at {r['rate']:g} checkouts/s, "
        f"{r['brokers']} Kafka node(s)",
        f"faults injected: {r['faults']['total']} ("
        + ", ".join(f"{k} {n}" for k, n in r["faults"]["by_kind"].items()) + ")",
    ]
    if r["faults"]["not_carried_out"]:
        lines.append(f"  NOT carried out: {len(r['faults']['not_carried_out'])} "
                     f"(first: {r['faults']['not_carried_out'][0]['error']})")
    if r["workers_died_on_their_own"]:
        lines.append(f"  workers that died on their own: {', '.join(r['workers_died_on_their_own'])}")
    lines += [
        f"orders: offered {o['offered']}, accepted {o['accepted']}, final {o['final']}, lost {o['lost']}; "
        + ", ".join(f"{k} {n}" for k, n in o["by_status"].items()),
        *(["  not accepted: " + ", ".join(f"{k}: {n}" for k, n in o["not_accepted"].items())]
          if o["not_accepted"] else []),
        f"goodput: {g['confirmed']} of {g['could_confirm']} orders that could confirm did ({share}, target >= 99%)"
        + ("; the others: " + ", ".join(f"{k} {n}" for k, n in g["missed_by_reason"].items())
           if g["missed_by_reason"] else ""),
        f"placed -> final while faults ran: {_ms(g['placed_to_final_s_during_faults'])}",
        f"healing: faults over at {h['healed_after_s']:g} s; every order final "
        + (f"{h['all_final_after_s']:g} s after (bound {h['bound_s']:g} s)" if h["all_final_after_s"] is not None
           else f"NOT within {h['bound_s']:g} s"),
        f"SIGKILLed worker to serving again: {_ms(rs)}; {rs['within_target']} of {rs['count']} within "
        f"{rs['target']:g} s",
        *(["  the worker's own phases, p50/p95: " + ", ".join(
            f"{k} {v['p50']:g}/{v['p95']:g} s" for k, v in rs["by_phase"].items() if v["p50"] is not None)]
          if any(v["p50"] is not None for v in rs.get("by_phase", {}).values()) else []),
        *([f"killed Kafka node to serving again: {_ms(b['to_serving'])}; to every replica in sync: "
           f"{_ms(b['to_in_sync'])}"] if (b := r.get("broker_restart_s")) and b["count"] else []),
        "invariants (violations):",
    ]
    for name, inv in r["invariants"].items():
        lines.append(f"  {inv['violations']:>5}  {name:<15} {inv['says']}")
        for example in inv["examples"][:3]:
            lines.append(f"         e.g. {example}")
    lines.append(f"verdict: {'PASS' if r['violations'] == 0 else 'FAIL'}: {r['violations']} violation(s)"
                 + (f"; report {path}" if path else ""))
    return "\n".join(lines)
