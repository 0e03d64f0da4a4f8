"""The bench's own arithmetic, without a platform: CPU steal, the flash-sale workload, targets and the table.

``tests/test_bench.py`` runs the whole bench against real services; these check the parts
that need none, so a wrong share or a missing section shows before anyone waits for a run.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any, Iterator

import pytest

from bench import procstat
from bench.__main__ import parse
from bench.load import Shoppers, Visit, flash_sku, pick_skus
from bench.procstat import CpuMeter, MachineTicks, machine_busy_seconds, machine_ticks, steal_share
from bench.report import chart, table, targets
from bench.run import cost, steal
from config.settings import Settings
from domain.catalog import BY_SKU, PRODUCTS

# user nice system idle iowait irq softirq steal guest guest_nice
STAT_A = "cpu  100 0 50 800 10 0 5 20 30 0\ncpu0 50 0 25 400 5 0 2 10 15 0\nintr 1 2 3\n"
STAT_B = "cpu  200 0 100 1500 20 0 10 70 40 0\ncpu0 100 0 50 750 10 0 5 35 20 0\nintr 4 5 6\n"


# -- CPU steal ------------------------------------------------------------------------------------

def test_steal_share_is_stolen_ticks_over_all_ticks_between_two_snapshots() -> None:
    a, b = machine_ticks(STAT_A), machine_ticks(STAT_B)
    assert a == MachineTicks(total=985, steal=20)  # user..steal; guest is already inside user
    assert b == MachineTicks(total=1900, steal=70)
    assert steal_share(a, b) == round(50 / 915, 4)


def test_steal_share_without_steal_field_or_snapshot() -> None:
    old_kernel = machine_ticks("cpu  10 0 5 80 1 0 1\n")  # seven numbers: no steal column
    assert old_kernel == MachineTicks(total=97, steal=0)
    assert steal_share(None, old_kernel) is None
    assert steal_share(old_kernel, old_kernel) is None  # no ticks passed: no share
    with pytest.raises(ValueError):
        machine_ticks("intr 1 2 3\n")


def test_busy_seconds_leave_idle_and_steal_out() -> None:
    busy_ticks = (200 + 0 + 100 + 0 + 10) - (100 + 0 + 50 + 0 + 5)  # user nice system irq softirq
    assert machine_busy_seconds(STAT_B) - machine_busy_seconds(STAT_A) == pytest.approx(
        busy_ticks / procstat.CLOCK_TICKS)


@pytest.fixture
def ticks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MachineTicks]]:
    """Machine ticks the meter reads at its next marks, in order."""
    queue: list[MachineTicks] = []
    monkeypatch.setattr(procstat, "read_machine_ticks", lambda: queue.pop(0))
    yield queue


def test_a_phase_with_more_than_five_percent_stolen_is_not_comparable(ticks: list[MachineTicks]) -> None:
    ticks += [MachineTicks(0, 0), MachineTicks(1000, 10),  # idle: 1% stolen
              MachineTicks(1000, 10), MachineTicks(2000, 80)]  # flash: 7% stolen
    meter = CpuMeter({})
    for label in ("idle-start", "idle-end", "flash-start", "flash-end"):
        meter.mark(label)
    figures = steal(meter)
    assert set(figures) == {"idle", "flash"}  # ramp and latency were not run: not reported
    assert figures["idle"]["share"] == 0.01 and figures["idle"]["comparable"] is True
    assert figures["flash"]["share"] == 0.07 and figures["flash"]["comparable"] is False


def test_cost_of_a_run_without_the_usual_mix_has_the_idle_figures() -> None:
    meter = CpuMeter({"broker": 1})  # marks as the idle baseline left them: 0.5 CPU s in 10 s
    meter.times = {"idle-start": 0.0, "idle-end": 10.0}
    meter.marks = {"idle-start": {"broker": 1.0}, "idle-end": {"broker": 1.5}}
    out = cost(meter, {}, {})
    assert out["platform_idle_cpu_share"] == 0.05
    assert "cpu_s_per_1000_confirmed_latency" not in out


# -- the flash-sale workload ---------------------------------------------------------------------

def test_the_flash_sku_is_the_iphone_15_of_the_catalog() -> None:
    assert BY_SKU[flash_sku()].name == "iPhone 15"


def test_the_usual_mix_is_unchanged() -> None:
    """1-3 random SKUs from the same random sequence as before the flash sale existed."""
    a, b = random.Random(8), random.Random(8)
    for _ in range(50):
        assert pick_skus("usual", a) == b.sample([p.sku for p in PRODUCTS], b.randint(1, 3))


def test_every_flash_sale_visit_carries_exactly_the_one_sku(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_calls(self: Shoppers, visit: Visit) -> None:
        visit.started = visit.scheduled

    monkeypatch.setattr(Shoppers, "visit", no_calls)

    async def offer() -> Any:
        shoppers = Shoppers(Settings(), None, "unit")  # type: ignore[arg-type]  # no HTTP: visits make no calls
        return await shoppers.phase("flash 200/s", 200, 0.1, workload="flash")

    phase = asyncio.run(offer())
    assert len(phase.visits) == 20
    assert all(v.skus == [flash_sku()] for v in phase.visits)
    with pytest.raises(ValueError):
        pick_skus("mixed", random.Random())  # type: ignore[arg-type]


def test_the_workload_option() -> None:
    assert parse([]).workload == "all"
    assert parse(["--workload", "flash"]).workload == "flash"
    with pytest.raises(SystemExit):
        parse(["--workload", "mixed"])


# -- targets and the table -----------------------------------------------------------------------

def _capacity(rate: float) -> dict[str, Any]:
    step = {"offered_per_s": rate, "confirmed_per_s": rate, "placed_to_confirmed_ms": {"p99": 80.0},
            "sustained": True}
    return {"steps": [step], "sustained_confirmed_per_s": rate, "limited_by": "the ramp's highest rate"}


def _by_text(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["target"].strip(): t for t in targets(result)}


def test_targets_met_not_met_and_not_measured() -> None:
    result = {"capacity": _capacity(120.0), "flash": {"sku": flash_sku(), "quantity": 1, "capacity": _capacity(80.0)},
              "steal": {"idle": {"share": 0.01, "comparable": True}, "flash": {"share": 0.07, "comparable": False}}}
    t = _by_text(result)
    usual = t["sustained confirmed orders/s, usual mix >= 100"]
    assert (usual["value"], usual["met"]) == ("120/s", True)
    assert t["the goal beyond: >= 165/s, the synchronous service's figure"]["met"] is False
    assert t["sustained confirmed orders/s, flash sale (every order the same SKU) >= 100"]["met"] is False
    p99 = t["placed -> CONFIRMED p99 < 100 ms at half capacity"]  # no latency phase in this run
    assert (p99["value"], p99["met"]) == (None, None)
    assert t["zero errors at half capacity"]["met"] is None
    comparable = next(v for k, v in t.items() if k.startswith("every phase comparable"))
    assert comparable["met"] is False and "flash" in comparable["value"]


def test_targets_of_the_latency_cost_and_records() -> None:
    result = {"latency": {"placed_to_confirmed_ms": {"p99": 99.0}, "checkout_ms": {"p99": 51.0},
                          "errors": {}},
              "cost": {"cpu_s_per_1000_confirmed_latency": 14.5, "platform_idle_cpu_share": 0.06,
                       "processes": {"broker": {}, "orders": {}}},
              "per_order": {"written_per_order": 16.0, "consumed_per_order": 10.5}}
    t = _by_text(result)
    assert t["placed -> CONFIRMED p99 < 100 ms at half capacity"]["met"] is True
    assert t["checkout call p99 < 50 ms at half capacity"]["met"] is False
    assert t["zero errors at half capacity"]["met"] is True
    cpu = next(v for k, v in t.items() if k.startswith("platform CPU per confirmed order <= 15 ms"))
    assert "broker" in cpu["target"] and (cpu["value"], cpu["met"]) == ("14.5 ms", True)
    assert next(v for k, v in t.items() if k.startswith("idle platform CPU <= 5%"))["met"] is False
    assert t["records per confirmed order <= 16 written and <= 10 consumed"]["met"] is False


def test_cpu_per_order_without_the_broker_is_for_review() -> None:
    cpu = next(t for t in targets({"cost": {"cpu_s_per_1000_confirmed_latency": 9.0, "processes": {"orders": {}}}})
               if t["target"].startswith("platform CPU per confirmed order"))
    assert cpu["met"] is None and "not measured" in cpu["value"]


def test_the_table_of_a_flash_only_run() -> None:
    """``--workload flash``: no per-order, usual ramp, latency or cost figures; the table still renders."""
    result: dict[str, Any] = {
        "bench": {"profile": "quick", "run_id": "unit"},
        "flash": {"sku": flash_sku(), "quantity": 1, "capacity": _capacity(4.0)},
        "steal": {"idle": {"share": 0.0, "comparable": True, "seconds": 2.0},
                  "flash": {"share": 0.08, "comparable": False, "seconds": 5.0}},
        "ratios": {},
    }
    result["targets"] = targets(result)
    text = table(result)
    assert "2. per confirmed order: not measured" in text
    assert "4. latency at half capacity: not measured" in text
    assert f"3b. capacity, flash sale (every order the same SKU: 1 x {flash_sku()})" in text
    assert "NOT COMPARABLE: 8.0% of the CPU stolen in the flash phase" in text
    assert "not measured" in next(line for line in text.splitlines() if "usual mix >= 100" in line)
    assert "NOT MET" in next(line for line in text.splitlines() if "flash sale (every order the same SKU) >=" in line)


def test_the_chart_draws_the_stolen_cpu(tmp_path: Path) -> None:
    n = 3
    tl = {"t_s": list(range(n)), "offered_per_s": [2] * n, "confirmed_per_s": [2] * n, "errors": [0] * n,
          "placed_to_confirmed_p50_ms": [50.0] * n, "placed_to_confirmed_p99_ms": [90.0] * n,
          "checkout_p99_ms": [20.0] * n, "platform_cores": [0.5] * n, "bench_cores": [0.1] * n,
          "other_cores": [0.0] * n, "steal_cores": [0.2, None, 0.1],
          "phases": [{"name": "flash 2/s", "start_s": 0.0, "end_s": 2.0}]}
    path = chart({"bench": {"profile": "quick"}, "machine": {"nproc": 2}, "timeline": tl}, tmp_path / "c.png")
    assert path is not None and path.stat().st_size > 0


def test_the_table_shows_each_recovery_and_says_when_it_was_skipped() -> None:
    from bench.report import table

    measured = {"bench": {"profile": "full"}, "recovery": {"points": [
        {"service": "orders", "orders": 10_000, "seconds_to_ready": 7.5, "changelog_records": 40_000},
        {"service": "inventory", "orders": 10_000, "seconds_to_ready": 9.25, "changelog_records": 97_000}]}}
    text = table(measured)
    assert "orders after 10,000 orders" in text and "7.50 s  (40,000 changelog records)" in text
    assert "inventory after 10,000 orders" in text and "9.25 s  (97,000 changelog records)" in text
    skipped = table({"bench": {"profile": "quick"}, "recovery": {"skipped": "a platform the bench did not start"}})
    assert "not measured: a platform the bench did not start" in skipped
