"""One benchmark run, phase by phase: ceilings, messages per order, capacity, latency, cost, flash sale.

Every loop is bounded in count and time, and all traffic goes to the platform's own
addresses (127.0.0.1 for a platform the bench starts). The figures are gathered into
one dict; :mod:`bench.report` prints, saves and draws it.
"""

from __future__ import annotations

import asyncio
import os
import platform as pyplatform
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import aiohttp

from bench.ceilings import agent_ceiling, broker_ceiling, delete_topics
from bench.load import OrderWatch, Phase, Shoppers, Workload, flash_sku, read_histories
from bench.mirror import MirrorWatch, histogram_delta, scrape_mirror_lag
from bench.hops import catalog_ends, journey
from bench.profile import Profiler, py_spy
from bench.offsets import Snapshot, per_order, settle, snapshot
from bench.procstat import STEAL_LIMIT, CpuMeter, CpuSampler, cpu_seconds, memory_mb
from bench.recovery import RECOVERED, recover
from bench.stack import Stack
from bench.stats import histogram_quantiles, summary
from config.kafka import send_messages
from config.settings import SERVICES
from domain.catalog import PRODUCTS
from streams.commands import SetStock
from streams.topics import STOCK_COMMANDS

__all__ = ["Profile", "FULL", "QUICK", "measure", "WORKLOAD_CHOICES"]

BENCH_STOCK = 1_000_000  # per SKU: orders never run out, so every order can confirm (a flash sale too)
WORKLOAD_CHOICES = ("usual", "flash", "all")  # all: the usual mix's phases, then a flash-sale ramp
#: phase -> its marks; CPU and steal are measured between them (a run may skip some)
SPANS = {"idle": ("idle-start", "idle-end"), "ramp": ("ramp-start", "ramp-end"),
         "latency": ("latency-start", "latency-end"), "whole_load": ("load-start", "latency-end"),
         "flash": ("flash-start", "flash-end")}
STEAL_PHASES = ("idle", "ramp", "latency", "flash")


@dataclass(frozen=True)
class Profile:
    """How much of each phase to run."""

    name: str
    ceiling_messages: int  # (a) produce/consume
    agent_messages: int  # (b) bare Faust agent
    ceiling_budget_s: float
    per_order_orders: int
    per_order_rate: float
    ramp_rates: tuple[float, ...]  # offered checkouts/s, in order; the ramp stops at the first that fails
    step_s: float
    latency_s: float
    drain_s: float  # how long a phase's orders may take to become final after its schedule ends
    idle_s: float = 10.0  # CPU of the platform without load, subtracted for the net cost
    grace_s: float = 0.5  # a step "follows" when its orders confirm by its end + this
    follow_ratio: float = 0.95


FULL = Profile("full", 20_000, 20_000, 30.0, 100, 5.0,
               (2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 85, 113), 10.0, 60.0, 30.0)
QUICK = Profile("quick", 2_000, 2_000, 10.0, 10, 5.0, (2, 4), 2.0, 4.0, 15.0, idle_s=2.0)

Log = Callable[[str], None]


@dataclass
class StepResult:
    phase: Phase
    figures: dict[str, Any]
    sustained: bool


@dataclass
class Run:
    stack: Stack
    profile: Profile
    run_id: str
    log: Log
    http: aiohttp.ClientSession
    watch: OrderWatch
    mirror: MirrorWatch
    shoppers: Shoppers
    phases: list[Phase] = field(default_factory=list)
    profiler: Profiler | None = None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"nproc": os.cpu_count(), "cpu_model": model, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": pyplatform.release(), "python": pyplatform.python_version(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}


async def _stock(run: Run) -> dict[str, int]:
    """On hand per SKU, as the inventory service answers."""
    base = run.stack.settings.service_url("inventory")

    async def one(sku: str) -> int:
        async with run.http.get(f"{base}/stock/{sku}") as r:
            return int((await r.json(content_type=None))["on_hand"])

    return dict(zip([p.sku for p in PRODUCTS], await asyncio.gather(*(one(p.sku) for p in PRODUCTS))))


async def set_stock(run: Run, levels: dict[str, int], timeout: float = 30.0) -> None:
    """Set on hand per SKU (``SetStock`` on the stock command topic) and wait until the service shows it."""
    s = run.stack.settings
    await send_messages(s, STOCK_COMMANDS, [
        SetStock(order_id=f"bench-{run.run_id}-{sku}-{uuid.uuid4().hex[:6]}", sku=sku, on_hand=n)
        for sku, n in levels.items()])
    deadline = time.monotonic() + timeout
    while (now := await _stock(run)) != levels:
        if time.monotonic() > deadline:
            raise TimeoutError(f"stock not set within {timeout:.0f}s: {now}")
        await asyncio.sleep(0.2)


async def _finish(run: Run, phase: Phase) -> dict[str, Any]:
    """After a phase's schedule: wait for its orders to be final, read their histories; its figures."""
    await asyncio.sleep(max(0.0, phase.ended - time.time()))  # a phase lasts its whole time, then drains
    ids = [v.order_id for v in phase.orders if v.order_id]
    missing = await run.watch.wait_final(ids, run.profile.drain_s)
    history_errors = await read_histories(run.http, run.stack.settings, phase.orders)
    return phase_figures(phase, missing, history_errors, run.profile.grace_s)


def phase_errors(phase: Phase, missing: list[str], history_errors: dict[str, int]) -> dict[str, int]:
    """Errors by kind: failed calls, orders not final in time, orders that FAILED, unreadable orders."""
    errors: Counter[str] = Counter(v.error for v in phase.visits if v.error)
    errors.update({"order not final within the drain bound": len(missing)} if missing else {})
    errors.update(f"order FAILED ({v.reason})" for v in phase.orders
                  if v.status == "FAILED" and v.order_id not in missing)
    errors.update(history_errors)
    return dict(sorted(errors.items()))


def phase_figures(phase: Phase, missing: list[str], history_errors: dict[str, int], grace_s: float
                  ) -> dict[str, Any]:
    visits, orders = phase.visits, phase.orders
    confirmed = [v for v in orders if v.status == "CONFIRMED"]
    in_time = [v for v in confirmed if v.confirmed_at is not None and v.confirmed_at <= phase.ended + grace_s]
    starts = [v.started for v in visits if v.started is not None]
    offered_span = max(starts) - phase.started if len(starts) > 1 else phase.duration
    start_lag = summary([v.start_lag_ms for v in visits if v.start_lag_ms is not None])
    return {
        "name": phase.name,
        "offered_per_s": phase.rate,
        "duration_s": phase.duration,
        "shoppers": len(visits),
        "offered_actual_per_s": round((len(starts) - 1) / offered_span, 2) if offered_span > 0 else None,
        "placed": len(orders),
        "confirmed": len(confirmed),
        "confirmed_by_end_plus_grace": len(in_time),
        "confirmed_per_s": round(len(in_time) / phase.duration, 2),
        "errors": phase_errors(phase, missing, history_errors),
        "checkout_ms": summary(v.checkout_ms for v in orders if v.checkout_ms is not None),
        "cart_put_ms": summary(ms for v in visits for ms in v.put_ms),
        "placed_to_confirmed_ms": summary(v.placed_to_confirmed_ms for v in confirmed
                                          if v.placed_to_confirmed_ms is not None),
        "checkout_request_to_confirmed_ms": summary(v.request_to_confirmed_ms for v in confirmed
                                                    if v.request_to_confirmed_ms is not None),
        "generator": {"start_lag_ms": start_lag, "dispatch_lag_ms": summary(phase.dispatch_lag_ms),
                      "kept_up": (start_lag["p99"] or 0) < 20.0, "unfinished_visits": phase.unfinished},
    }


async def per_order_phase(run: Run, start: Snapshot) -> dict[str, Any]:
    """Offsets before and after a small batch at a low rate: messages written and consumed per order.

    ``start`` is a snapshot from before the bench set the stock: the batch starts once what
    was written since (the stock commands) is consumed and committed, so none of it counts."""
    p = run.profile
    s = run.stack.settings
    before, _ = await settle(s, start)
    phase = await run.shoppers.phase("per-order", p.per_order_rate, p.per_order_orders / p.per_order_rate)
    run.phases.append(phase)
    figures = await _finish(run, phase)
    after, settled = await settle(s, before)
    counts = per_order(before, after, figures["confirmed"])
    counts.update({"settled": settled, "batch": figures,
                   "note": "every topic's end offsets before/after the batch, and every service group's "
                           "committed offsets"})
    return counts


async def ramp(run: Run, workload: Workload = "usual") -> dict[str, Any]:
    """Offer more checkouts/s step by step until confirmed/s stops following or errors appear."""
    p = run.profile
    label = "ramp" if workload == "usual" else workload
    steps: list[dict[str, Any]] = []
    capacity, limited_by = 0.0, "the ramp's highest rate (raise it: capacity is higher)"
    for rate in p.ramp_rates:
        phase = await run.shoppers.phase(f"{label} {rate:g}/s", rate, p.step_s, workload=workload)
        run.phases.append(phase)
        figures = await _finish(run, phase)
        follows = figures["confirmed_by_end_plus_grace"] >= p.follow_ratio * figures["shoppers"]
        sustained = follows and not figures["errors"]
        figures["sustained"] = sustained
        steps.append(figures)
        run.log(f"  {label} {rate:>5g}/s: placed {figures['placed']:>4}, confirmed {figures['confirmed_per_s']:>6.2f}/s "
                f"in time, p99 placed->CONFIRMED {figures['placed_to_confirmed_ms']['p99']} ms, "
                f"errors {sum(figures['errors'].values())}, generator lag p99 "
                f"{figures['generator']['start_lag_ms']['p99']} ms -> {'sustained' if sustained else 'NOT sustained'}")
        if sustained:
            capacity = max(capacity, figures["confirmed_per_s"])
            continue
        limited_by = ("errors: " + ", ".join(f"{k} x{n}" for k, n in figures["errors"].items())) \
            if figures["errors"] else (f"confirmed/s stopped following at {rate:g}/s offered "
                                       f"({figures['confirmed_by_end_plus_grace']} of {figures['shoppers']} "
                                       f"confirmed within {p.grace_s:g} s of the step's end)")
        if not figures["generator"]["kept_up"]:
            limited_by += "; the generator also fell behind its schedule (same CPUs)"
        break
    # let any backlog of a failed step drain before the next phase (bounded)
    await run.watch.wait_final([v.order_id for ph in run.phases for v in ph.orders if v.order_id], 60.0)
    return {"steps": steps, "sustained_confirmed_per_s": capacity, "limited_by": limited_by,
            "rule": f"a step of {p.step_s:g} s is sustained when >= {p.follow_ratio:.0%} of its shoppers' orders "
                    f"are CONFIRMED by the step's end + {p.grace_s:g} s and nothing failed"}


async def latency_phase(run: Run, rate: float) -> tuple[dict[str, Any], Phase]:
    """Open-loop load at ``rate`` for the profile's time: latencies, mirror lag, errors."""
    p = run.profile
    s = run.stack.settings
    hist_before = await scrape_mirror_lag(s, run.http)
    ends_before = await catalog_ends(s)
    if run.profiler is not None:
        run.profiler.start(p.latency_s)
    phase = await run.shoppers.phase("latency", rate, p.latency_s)
    run.phases.append(phase)
    figures = await _finish(run, phase)
    if run.profiler is not None:
        figures["profile"] = await run.profiler.finish()
    await run.mirror.wait_empty(10.0)
    hist_after = await scrape_mirror_lag(s, run.http)
    confirmed_ids = {v.order_id for v in phase.orders if v.status == "CONFIRMED" and v.order_id}
    figures["journey"] = await journey(s, ends_before, await catalog_ends(s),
                                       {v.order_id for v in phase.orders if v.order_id}, confirmed_ids)
    figures["journey_method"] = ("per confirmed order, each catalog record's producer timestamp (the last one of a "
                                 "step with one record per line) minus the order's first record's; p50 and p99 "
                                 "over orders, steps ordered by p50; hop = difference of p50s")
    figures["history_split_ms"] = {
        "CREATED -> INVENTORY_RESERVED": summary(
            (v.history["INVENTORY_RESERVED"] - v.history["CREATED"]) * 1000 for v in phase.orders
            if "INVENTORY_RESERVED" in v.history and "CREATED" in v.history),
        "INVENTORY_RESERVED -> CONFIRMED": summary(
            (v.history["CONFIRMED"] - v.history["INVENTORY_RESERVED"]) * 1000 for v in phase.orders
            if "INVENTORY_RESERVED" in v.history and "CONFIRMED" in v.history),
    }
    for v in phase.orders:
        v.mirrored = run.mirror.seen.get(v.order_id or "")
    finals = [v for v in phase.orders if v.final_at is not None]
    unseen = [v for v in finals if v.mirrored is None]
    figures["mirror_lag_ms"] = summary(v.mirror_lag_ms for v in finals if v.mirror_lag_ms is not None)
    figures["mirror_lag_ms"]["not_seen"] = len(unseen)
    figures["mirror_lag_method"] = (f"orders_db.orders row with the final status, looked up every "
                                    f"{run.mirror.interval * 1000:.0f} ms once order-events said final, minus "
                                    "the final status's time in the order's history (upper bound)")
    figures["mirror_lag_workers_ms"] = histogram_quantiles(histogram_delta(hist_before, hist_after)) \
        if hist_after else None
    figures["mirror_lag_workers_method"] = ("megatron_mirror_lag_seconds of orders, inventory and payment "
                                            "(table write -> MySQL row), bucket-interpolated, this phase only")
    if unseen:
        figures["errors"]["order's final row not seen in orders_db.orders"] = len(unseen)
    return figures, phase


def cost(meter: CpuMeter, pids: dict[str, int], confirmed: dict[str, int]) -> dict[str, Any]:
    """CPU seconds per process per phase, peak RSS, and CPU per 1,000 confirmed orders.

    The idle phase (no load) gives each process's idle CPU per second (timers, heartbeats,
    fetch waits); the ``net`` figures subtract that from the loaded phases. ``pids`` are every
    process the bench measures (the broker among them), so the per-order figures include the
    broker. A run that skipped the usual mix (``--workload flash``) has the idle figures only."""
    spans = {k: SPANS[k] for k in ("idle", "ramp", "latency", "whole_load") if meter.has(*SPANS[k])}
    deltas = {k: meter.delta(a, b) for k, (a, b) in spans.items()}
    walls = {k: meter.seconds(a, b) for k, (a, b) in spans.items()}
    processes = {}
    for name, pid in pids.items():
        idle = deltas["idle"][name]
        processes[name] = {"pid": pid, **{f"cpu_s_{k}": v[name] for k, v in deltas.items()},
                           "idle_cpu_share": round(idle / walls["idle"], 4) if idle is not None else None,
                           **memory_mb(pid)}
    out: dict[str, Any] = {"processes": processes, "phase_seconds": {k: round(v, 2) for k, v in walls.items()}}
    idle_rate = sum(v for v in deltas["idle"].values() if v is not None) / walls["idle"]
    out["platform_idle_cpu_share"] = round(idle_rate, 4)
    for key in (k for k in ("latency", "whole_load") if k in spans and k in confirmed):
        total = sum(v for v in deltas[key].values() if v is not None)
        net = max(0.0, total - idle_rate * walls[key])
        out[f"platform_cpu_s_{key}"] = round(total, 2)
        out[f"platform_cpu_share_{key}"] = round(total / walls[key], 4)
        n = confirmed[key]
        out[f"cpu_s_per_1000_confirmed_{key}"] = round(total / n * 1000, 2) if n else None
        out[f"net_cpu_s_per_1000_confirmed_{key}"] = round(net / n * 1000, 2) if n else None
    return out


def steal(meter: CpuMeter) -> dict[str, dict[str, Any]]:
    """Per marked phase: the share of the machine's CPU the hypervisor stole, and whether the phase
    is comparable (at most ``STEAL_LIMIT``): one run lost 40-49% so, and its figures meant little."""
    out: dict[str, dict[str, Any]] = {}
    for name in STEAL_PHASES:
        if not meter.has(*SPANS[name]):
            continue
        share = meter.steal(*SPANS[name])
        out[name] = {"share": share, "comparable": None if share is None else share <= STEAL_LIMIT,
                     "seconds": round(meter.seconds(*SPANS[name]), 2)}
    return out


def steal_line(figures: dict[str, dict[str, Any]]) -> str:
    """``idle 0.4%, ramp 7.1% (not comparable), ...`` for the log."""
    def one(name: str, st: dict[str, Any]) -> str:
        share = "-" if st["share"] is None else f"{st['share']:.1%}"
        return f"{name} {share}{' (not comparable)' if st['comparable'] is False else ''}"

    return ", ".join(one(name, st) for name, st in figures.items()) or "-"


def timeline(phases: list[Phase], cpu: list[dict[str, float]]) -> dict[str, Any]:
    """Per second since the load began: offered, confirmed, latency, errors and cores in use; phases as spans."""
    if not phases:
        return {}
    t0 = phases[0].started
    visits = [v for ph in phases for v in ph.visits]
    end = max([ph.ended for ph in phases] + [v.final_at or 0 for v in visits]) - t0
    n = int(end) + 1
    offered, confirmed, errors = [0] * n, [0] * n, [0] * n
    p2c: list[list[float]] = [[] for _ in range(n)]
    chk: list[list[float]] = [[] for _ in range(n)]
    for v in visits:
        i = int(v.scheduled - t0)
        if 0 <= i < n:
            offered[i] += 1
            if v.error:
                errors[i] += 1
        if v.confirmed_at is not None and 0 <= int(v.confirmed_at - t0) < n:
            j = int(v.confirmed_at - t0)
            confirmed[j] += 1
            if v.placed_to_confirmed_ms is not None:
                p2c[j].append(v.placed_to_confirmed_ms)
        if v.checkout_ms is not None and v.checkout_started is not None and 0 <= int(v.checkout_started - t0) < n:
            chk[int(v.checkout_started - t0)].append(v.checkout_ms)
    cores: dict[str, list[float | None]] = {k: [None] * n for k in ("platform_cores", "bench_cores", "other_cores",
                                                                   "steal_cores")}
    for sample in cpu:
        i = int(sample["t"] - t0)
        if 0 <= i < n:
            cores["platform_cores"][i] = sample["platform_cores"]
            cores["bench_cores"][i] = sample["bench_cores"]
            cores["steal_cores"][i] = sample.get("steal_cores")
            cores["other_cores"][i] = round(max(0.0, sample["machine_cores"] - sample["platform_cores"]
                                                - sample["bench_cores"]), 3)
    return {
        **cores,
        "t_s": list(range(n)), "offered_per_s": offered, "confirmed_per_s": confirmed, "errors": errors,
        "placed_to_confirmed_p50_ms": [summary(x)["p50"] for x in p2c],
        "placed_to_confirmed_p99_ms": [summary(x)["p99"] for x in p2c],
        "checkout_p99_ms": [summary(x)["p99"] for x in chk],
        "phases": [{"name": ph.name, "start_s": round(ph.started - t0, 2), "end_s": round(ph.ended - t0, 2)}
                   for ph in phases],
    }


async def quiet(run: Run, after: str) -> None:
    """Wait (bounded) until every group caught up and nothing is written, so a phase starts on a quiet platform."""
    s = run.stack.settings
    quiet_from = time.monotonic()
    _, ok = await settle(s, await snapshot(s), quiet_s=2.0, timeout=60.0, every_reader=True)
    run.log(f"   the platform is {'quiet' if ok else 'NOT quiet'} after {after} "
            f"({time.monotonic() - quiet_from:.0f} s: every group caught up, nothing written)")


async def usual_mix(run: Run, result: dict[str, Any], meter: CpuMeter, start: Snapshot) -> None:
    """Phases 2-5 with the usual mix of 1-3 random SKUs: per order, capacity, latency, cost."""
    profile, log, pids = run.profile, run.log, run.stack.pids
    log(f"2. messages per order ({profile.per_order_orders} orders at {profile.per_order_rate:g}/s)")
    result["per_order"] = await per_order_phase(run, start)
    po = result["per_order"]
    log(f"  written {po['written_per_order']} / consumed {po['consumed_per_order']} per confirmed order "
        f"({po['batch']['confirmed']} confirmed{'' if po['settled'] else ', offsets did not settle'})")

    log("3. capacity ramp")
    meter.mark("ramp-start")
    result["capacity"] = await ramp(run)
    meter.mark("ramp-end")
    capacity = result["capacity"]["sustained_confirmed_per_s"]
    log(f"  sustained: {capacity:g} confirmed/s ({result['capacity']['limited_by']})")

    rate = round(capacity / 2, 2) if capacity else profile.ramp_rates[0] / 2
    await quiet(run, "the ramp")
    log(f"4. latency at half capacity: {rate:g} checkouts/s for {profile.latency_s:g} s, open loop")
    meter.mark("latency-start")
    latency, _ = await latency_phase(run, rate)
    meter.mark("latency-end")
    result["latency"] = latency
    log(f"  placed->CONFIRMED p99 {latency['placed_to_confirmed_ms']['p99']} ms, checkout p99 "
        f"{latency['checkout_ms']['p99']} ms, mirror lag p99 {latency['mirror_lag_ms']['p99']} ms, "
        f"errors {sum(latency['errors'].values())}")

    log("5. cost")
    confirmed = {"latency": latency["confirmed"],
                 "whole_load": sum(1 for ph in run.phases for v in ph.orders if v.status == "CONFIRMED")}
    result["cost"] = cost(meter, pids, confirmed)


async def flash_sale(run: Run, result: dict[str, Any], meter: CpuMeter) -> None:
    """A capacity ramp where every order is one line of the same SKU: all reservations meet on one stock."""
    sku = flash_sku()
    await quiet(run, "the usual mix" if "latency" in result else "the idle baseline")
    run.log(f"3b. capacity ramp, flash sale: every order 1 x {sku}")
    meter.mark("flash-start")
    capacity = await ramp(run, "flash")
    meter.mark("flash-end")
    result["flash"] = {"sku": sku, "quantity": 1, "capacity": capacity}
    run.log(f"  sustained: {capacity['sustained_confirmed_per_s']:g} confirmed/s ({capacity['limited_by']})")


def placed_so_far(run: Run) -> int:
    return sum(len(phase.orders) for phase in run.phases)


async def recovery_phase(run: Run, result: dict[str, Any], after_orders: tuple[int, ...]) -> None:
    """Each stateful worker killed, wiped and restarted, once the run has placed each of ``after_orders``
    (topped up at 80% of the capacity measured; none given: once, with what the run placed)."""
    run.log("7. recovery: a worker killed with SIGKILL, its data dir wiped, restarted")
    if run.stack.platform is None:
        result["recovery"] = {"skipped": "a platform the bench did not start (--gateway)"}
        run.log("  skipped: the bench did not start this platform")
        return
    measured = (result.get("capacity") or {}).get("sustained_confirmed_per_s") \
        or ((result.get("flash") or {}).get("capacity") or {}).get("sustained_confirmed_per_s")
    capacity = (measured or 10.0) * 0.8
    points = []
    for target in after_orders or (0,):
        missing = target - placed_so_far(run)
        if missing > 0:
            run.log(f"  placing {missing:,} more orders at {capacity:.1f}/s ({missing / capacity / 60:.1f} min)")
            phase = await run.shoppers.phase(f"fill to {target}", capacity, missing / capacity)
            run.phases.append(phase)
            await run.watch.wait_final([v.order_id for v in phase.orders if v.order_id], 120.0)
        for service in RECOVERED:
            points.append({"service": service, **await recover(run.stack, run.stack.platform, service,
                                                                placed_so_far(run), run.log)})
    result["recovery"] = {"points": points, "method": (
        "SIGKILL, the worker's RocksDB folder deleted, the same worker started again; seconds until its "
        "/health answers 200 (partitions assigned, every table recovered); changelog records = the end "
        "offsets of its tables' changelogs, what recovery reads at most")}


async def measure(stack: Stack, profile: Profile, log: Log, *, skip_ceilings: bool = False,
                  log_dir: Path | None = None, profile_dir: Path | None = None,
                  workload: str = "all", recovery_after: tuple[int, ...] = ()) -> dict[str, Any]:
    """Every phase of the benchmark against ``stack``; the figures as one dict.

    ``workload``: ``usual`` (the mix of 1-3 random SKUs: per order, capacity, latency, cost),
    ``flash`` (only a capacity ramp where every order is the same SKU) or ``all`` (both, the
    flash sale last). The ceilings and the idle baseline run for each."""
    if workload not in WORKLOAD_CHOICES:
        raise ValueError(f"workload {workload!r}: one of {', '.join(WORKLOAD_CHOICES)}")
    run_id = uuid.uuid4().hex[:8]
    s = stack.settings
    result: dict[str, Any] = {
        "bench": {"profile": profile.name, "run_id": run_id, "started_at": datetime.now(timezone.utc).isoformat(),
                  "workload": workload,
                  "platform": "started by the bench (isolated)" if stack.started_here else "running (--gateway)",
                  "gateway": s.gateway_url, "broker": s.kafka_broker,
                  "topic_partitions": s.topic_partitions, "producer_linger_ms": s.producer_linger_ms,
                  "producer_max_batch_size": s.producer_max_batch_size,
                  "upi_sim_delay_ms": s.upi_sim_delay_ms, "notes": list(stack.notes)},
        "machine": machine(),
    }
    bench_cpu_start = cpu_seconds(os.getpid()) or 0.0
    own_topics: list[str] = []

    log("1. ceilings on the same broker")
    if not skip_ceilings:
        broker = await broker_ceiling(s, run_id, profile.ceiling_messages, profile.ceiling_budget_s)
        own_topics.append(str(broker["topic"]))
        log(f"  broker: produce {broker['produce_msgs_per_s']} msgs/s, consume {broker['consume_msgs_per_s']} msgs/s")
        agents = {}
        for key, await_ack in (("bare_agent", False), ("bare_agent_await_ack", True)):
            agent = await agent_ceiling(stack, run_id, profile.agent_messages, profile.ceiling_budget_s,
                                        log_dir or stack.workdir / "log", await_ack=await_ack)
            own_topics += [str(agent["source"]), str(agent["sink"])]
            log(f"  bare Faust agent ({agent['send']}): {agent['msgs_per_s']} msgs/s "
                f"({agent['passed']} of {agent['preloaded']})")
            agents[key] = agent
        result["ceilings"] = {"broker": broker, **agents}

    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=1024)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        watch = OrderWatch(s)
        mirror = MirrorWatch(s)
        watch.listeners.append(mirror.expect)
        run = Run(stack, profile, run_id, log, http, watch, mirror, Shoppers(s, http, run_id))
        if profile_dir is not None:
            if py_spy() is None:
                result["bench"]["notes"].append("--profile: py-spy is not installed (pip install py-spy)")
            elif workload == "flash":
                result["bench"]["notes"].append("--profile: no latency phase with --workload flash, nothing sampled")
            else:
                workers = {n: pid for n, pid in stack.pids.items() if n in SERVICES}
                run.profiler = Profiler(workers, profile_dir / run_id)
                result["bench"]["notes"].append(
                    "profiled run: py-spy sampled every worker during the latency phase (its CPU is on the "
                    "same machine, so these timings are a little worse than a plain run's)")
        stock_before = await _stock(run)
        start = await snapshot(s)
        await set_stock(run, {p.sku: BENCH_STOCK for p in PRODUCTS})
        await watch.start()
        await mirror.start()
        meter = CpuMeter(stack.pids)
        sampler = CpuSampler(stack.pids)
        try:
            log(f"   idle baseline: {profile.idle_s:g} s without load")
            meter.mark("idle-start")
            await asyncio.sleep(profile.idle_s)
            meter.mark("idle-end")
            meter.mark("load-start")
            sampler.start()
            if workload in ("usual", "all"):
                await usual_mix(run, result, meter, start)
            else:
                result["cost"] = cost(meter, stack.pids, {})  # the idle figures: no usual-mix phases ran
            if workload in ("flash", "all"):
                await flash_sale(run, result, meter)
            result["steal"] = steal(meter)
            log(f"   CPU stolen by the hypervisor: {steal_line(result['steal'])}")
            result["cost"]["bench_cpu_s"] = round((cpu_seconds(os.getpid()) or 0.0) - bench_cpu_start, 2)
            result["cost"]["bench_peak_rss_mb"] = memory_mb(os.getpid())["peak_rss_mb"]
            await sampler.stop()
            result["timeline"] = timeline(run.phases, sampler.samples)
            other = [x for x in result["timeline"].get("other_cores", []) if x is not None]
            result["cost"]["other_load_cores"] = summary(other, 2)
            await recovery_phase(run, result, recovery_after)  # last: it replaces workers
        finally:
            await sampler.stop()
            await watch.stop()
            await mirror.stop()
            if not stack.started_here:  # leave a running platform's stock as it was
                try:
                    await set_stock(run, stock_before)
                except Exception as exc:
                    result["bench"]["notes"].append(f"stock not restored: {exc}")
    if own_topics:
        why = await delete_topics(s, own_topics)
        if why:
            result["bench"]["notes"].append(f"the bench's own topics were not deleted ({why})")
    result["bench"]["finished_at"] = datetime.now(timezone.utc).isoformat()
    return result
