"""The run's figures for people: the two ratios, each target met or not, one table, JSON and a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.procstat import STEAL_LIMIT

__all__ = ["ratios", "targets", "table", "write", "chart"]

TARGET_RATE = 100.0  # confirmed orders/s, the usual mix and the flash sale alike (issue 16)
SYNC_RATE = 165.0  # confirmed orders/s of the synchronous service: the goal beyond the target


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def ratios(r: dict[str, Any]) -> dict[str, Any]:
    """The issue's two ratios, at the sustained confirmed rate."""
    orders = _get(r, "capacity", "sustained_confirmed_per_s")
    consumed = _get(r, "per_order", "consumed_per_order")
    written = _get(r, "per_order", "written_per_order")
    agent = _get(r, "ceilings", "bare_agent", "msgs_per_s")
    broker = _get(r, "ceilings", "broker", "produce_msgs_per_s")
    agent_ack = _get(r, "ceilings", "bare_agent_await_ack", "msgs_per_s")

    def ratio(a: Any, b: Any, c: Any) -> float | None:
        return round(a * b / c, 4) if None not in (a, b, c) and c else None

    return {
        "pipeline_vs_bare_agent": ratio(orders, consumed, agent),
        "pipeline_vs_bare_agent_formula": "orders/s x messages consumed per order / bare-agent msgs/s",
        "pipeline_vs_bare_agent_await_ack": ratio(orders, consumed, agent_ack),
        "writes_vs_broker": ratio(orders, written, broker),
        "writes_vs_broker_formula": "orders/s x messages written per order / broker produce msgs/s",
    }


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 16 with the measured value and met / not met.

    ``value`` is ``None`` when the run did not measure it (a skipped phase: the table says
    "not measured"); ``met`` is ``None`` when the figure cannot be judged (review)."""
    lat = r.get("latency") or {}
    usual = _get(r, "capacity", "sustained_confirmed_per_s")
    flash = _get(r, "flash", "capacity", "sustained_confirmed_per_s")
    p2c, chk = _get(lat, "placed_to_confirmed_ms", "p99"), _get(lat, "checkout_ms", "p99")
    idle = _get(r, "cost", "platform_idle_cpu_share")
    errors = sum(lat["errors"].values()) if isinstance(lat.get("errors"), dict) else None
    return [
        _target(f"sustained confirmed orders/s, usual mix >= {TARGET_RATE:g}", _rate(usual),
                _at_least(usual, TARGET_RATE)),
        _target(f"   the goal beyond: >= {SYNC_RATE:g}/s, the synchronous service's figure", _rate(usual),
                _at_least(usual, SYNC_RATE)),
        _target(f"sustained confirmed orders/s, flash sale (every order the same SKU) >= {TARGET_RATE:g}",
                _rate(flash), _at_least(flash, TARGET_RATE)),
        _target("placed -> CONFIRMED p99 < 100 ms at half capacity", _ms(p2c), _below(p2c, 100)),
        _target("checkout call p99 < 50 ms at half capacity", _ms(chk), _below(chk, 50)),
        _cpu_target(r),
        _target("idle platform CPU <= 5% of a core, the broker's included",
                None if idle is None else f"{idle:.1%} of a core", None if idle is None else idle <= 0.05),
        _records_target(r),
        _target("zero errors at half capacity", errors, None if errors is None else errors == 0),
        _steal_target(r),
    ]


def _target(text: str, value: Any, met: bool | None) -> dict[str, Any]:
    return {"target": text, "value": value, "met": met}


def _below(value: Any, bound: float) -> bool | None:
    return None if value is None else value < bound


def _at_least(value: Any, bound: float) -> bool | None:
    return None if value is None else value >= bound


def _rate(v: Any) -> str | None:
    return None if v is None else f"{v:g}/s"


def _cpu_target(r: dict[str, Any]) -> dict[str, Any]:
    """CPU s per 1,000 confirmed orders is CPU ms per order; it counts only when the broker was measured."""
    per_order = _get(r, "cost", "cpu_s_per_1000_confirmed_latency")
    broker = "broker" in (_get(r, "cost", "processes") or {})
    text = "platform CPU per confirmed order <= 15 ms, the broker's included (latency phase)"
    if per_order is None:
        return _target(text, None, None)
    if not broker:
        return _target(text, f"{per_order:g} ms (the broker's CPU not measured)", None)
    return _target(text, f"{per_order:g} ms", per_order <= 15)


def _records_target(r: dict[str, Any]) -> dict[str, Any]:
    written, consumed = _get(r, "per_order", "written_per_order"), _get(r, "per_order", "consumed_per_order")
    text = "records per confirmed order <= 16 written and <= 10 consumed"
    if written is None or consumed is None:
        return _target(text, None, None)
    return _target(text, f"{written:g} written / {consumed:g} consumed", written <= 16 and consumed <= 10)


def _steal_target(r: dict[str, Any]) -> dict[str, Any]:
    """Informative: a phase the hypervisor took more than the limit from says little about the platform."""
    text = f"every phase comparable (CPU steal <= {STEAL_LIMIT:.0%}; informative)"
    phases = {name: st for name, st in (r.get("steal") or {}).items() if st.get("share") is not None}
    if not phases:
        return _target(text, None, None)
    worst = max(phases, key=lambda name: phases[name]["share"])
    off = [name for name, st in phases.items() if st.get("comparable") is False]
    value = f"most stolen {phases[worst]['share']:.1%} ({worst})" + (f"; not comparable: {', '.join(off)}"
                                                                    if off else "")
    return _target(text, value, not off)


def _ms(v: Any) -> str | None:
    return None if v is None else f"{v:g} ms"


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _steal_share(st: dict[str, Any]) -> str:
    share = st.get("share")
    if share is None:
        return "-"
    return f"{share:.1%}" + ("  NOT COMPARABLE" if st.get("comparable") is False else "")


def _steal_note(r: dict[str, Any], phase: str) -> str:
    """`` [NOT COMPARABLE: 7.0% of the CPU stolen]`` after a section whose phase lost too much to the hypervisor."""
    st = _get(r, "steal", phase) or {}
    if st.get("comparable") is not False:
        return ""
    return f"  [NOT COMPARABLE: {st['share']:.1%} of the CPU stolen in the {phase} phase]"


def _dist(d: dict[str, Any] | None) -> str:
    if not d or d.get("n") == 0:
        return "-"
    return " / ".join(_fmt(d.get(k)) for k in ("p50", "p95", "p99", "max")) + f"  (n={d.get('n')})"


def table(r: dict[str, Any]) -> str:
    """The one table: every figure, then the per-topic and per-process breakdowns, then the targets."""
    rows: list[tuple[str, str]] = []

    def section(title: str) -> None:
        rows.append((f"-- {title}", ""))

    def row(name: str, value: Any) -> None:
        rows.append((name, value if isinstance(value, str) else _fmt(value)))

    b, a = _get(r, "ceilings", "broker") or {}, _get(r, "ceilings", "bare_agent") or {}
    section("1. ceilings (same broker, same run)")
    row(f"broker produce, {b.get('partitions')} partitions, {b.get('message_bytes')} B, msgs/s",
        b.get("produce_msgs_per_s"))
    row("broker consume, msgs/s", b.get("consume_msgs_per_s"))
    ack = _get(r, "ceilings", "bare_agent_await_ack") or {}
    def agent_rate(x: dict[str, Any]) -> str:
        return (f"{_fmt(x.get('msgs_per_s'))}  (median second {_fmt(x.get('median_second_msgs'))}, "
                f"longest pause {_fmt(x.get('longest_pause_s'))} s)") if x else "-"

    row(f"bare Faust agent topic -> topic ({a.get('partitions')} partitions), msgs/s", agent_rate(a))
    row("   the same, awaiting each send's ack (as ServiceApp.emit), msgs/s", agent_rate(ack))
    row("bare agent CPU s per 1,000 msgs (send / await ack)",
        f"{_fmt(a.get('cpu_s_per_1000_msgs'))} / {_fmt(ack.get('cpu_s_per_1000_msgs'))}")
    po = r.get("per_order") or {}
    settled = "settled" if po.get("settled") else "NOT settled"
    section(f"2. per confirmed order ({po.get('orders')} orders, offsets {settled})" if po
            else "2. per confirmed order: not measured")
    row("messages written (any topic)", po.get("written_per_order"))
    for topic, n in (po.get("written_by_topic") or {}).items():
        row(f"   written to {topic}", n["per_order"])
    row("messages consumed (any agent)", po.get("consumed_per_order"))
    for group, topics in (po.get("consumed_by_group") or {}).items():
        for topic, n in topics.items():
            row(f"   {group} <- {topic}", n["per_order"])

    def capacity(cap: dict[str, Any]) -> None:
        for step in cap.get("steps", []):
            row(f"   offered {step['offered_per_s']:g}/s -> confirmed/s (p99 placed->CONFIRMED ms)",
                f"{step['confirmed_per_s']:g} ({_fmt(step['placed_to_confirmed_ms']['p99'])})"
                f"{'' if step['sustained'] else '  NOT sustained'}")
        row("highest sustained confirmed orders/s", cap.get("sustained_confirmed_per_s"))
        row("limited by", cap.get("limited_by") or ("not measured" if not cap else None))

    section("3. capacity, usual mix (1-3 random SKUs per order)" + _steal_note(r, "ramp"))
    capacity(r.get("capacity") or {})
    flash = r.get("flash") or {}
    section("3b. capacity, flash sale (every order the same SKU"
            + (f": {flash['quantity']} x {flash['sku']})" if flash.get("sku") else ")") + _steal_note(r, "flash"))
    capacity(flash.get("capacity") or {})
    lat = r.get("latency") or {}
    section((f"4. latency at half capacity: {_fmt(lat.get('offered_per_s'))}/s for {_fmt(lat.get('duration_s'))} s, "
             "open loop; p50 / p95 / p99 / max ms" if lat else "4. latency at half capacity: not measured")
            + _steal_note(r, "latency"))
    row("shoppers / orders placed / confirmed",
        f"{_fmt(lat.get('shoppers'))} / {_fmt(lat.get('placed'))} / {_fmt(lat.get('confirmed'))}")
    row("checkout call (POST /checkout)", _dist(lat.get("checkout_ms")))
    row("cart line call (PUT /cart/..)", _dist(lat.get("cart_put_ms")))
    row("placed -> CONFIRMED (order history)", _dist(lat.get("placed_to_confirmed_ms")))
    for split, d in (lat.get("history_split_ms") or {}).items():
        row(f"   {split}", _dist(d))
    row("checkout request -> CONFIRMED", _dist(lat.get("checkout_request_to_confirmed_ms")))
    row("mirror lag, orders_db.orders seen from outside", _dist(lat.get("mirror_lag_ms")))
    row("mirror lag, workers' histogram", _dist(lat.get("mirror_lag_workers_ms")))
    errors = lat.get("errors") or {}
    row("errors", sum(errors.values()) if lat else None)
    for kind, n in errors.items():
        row(f"   {kind}", n)
    steps = lat.get("journey") or []
    if steps:
        row("an order's journey (record timestamps): step", "p50 / p99 ms since its first record  (hop p50)")
        for st in steps:
            row(f"   {st['step']}", f"{_fmt(st['p50_ms'])} / {_fmt(st['p99_ms'])}  (+{_fmt(st['hop_p50_ms'])})")
    gen = lat.get("generator") or {}
    row("generator lag behind schedule", _dist(gen.get("start_lag_ms"))
        + ("" if gen.get("kept_up", True) else "  (FELL BEHIND)"))
    c = r.get("cost") or {}
    section("5. cost: CPU s in the latency phase / whole load, peak RSS MB" + _steal_note(r, "idle"))
    for name, p in (c.get("processes") or {}).items():
        row(f"   {name}", f"{_fmt(p.get('cpu_s_latency'))} / {_fmt(p.get('cpu_s_whole_load'))} s, "
                         f"{_fmt(p.get('peak_rss_mb'))} MB")
    row("platform CPU in use, cores: idle / latency phase / whole load",
        f"{_fmt(c.get('platform_idle_cpu_share'))} / {_fmt(c.get('platform_cpu_share_latency'))} / "
        f"{_fmt(c.get('platform_cpu_share_whole_load'))}")
    row("platform CPU s per 1,000 confirmed (latency / whole load)",
        f"{_fmt(c.get('cpu_s_per_1000_confirmed_latency'))} / {_fmt(c.get('cpu_s_per_1000_confirmed_whole_load'))}")
    row("   the same without the idle CPU",
        f"{_fmt(c.get('net_cpu_s_per_1000_confirmed_latency'))} / "
        f"{_fmt(c.get('net_cpu_s_per_1000_confirmed_whole_load'))}")
    row("the bench itself (generator, watchers): CPU s", c.get("bench_cpu_s"))
    other = c.get("other_load_cores") or {}
    if other.get("n"):
        row("other work on the machine during the load, cores p50 / p95 / max",
            f"{_fmt(other.get('p50'))} / {_fmt(other.get('p95'))} / {_fmt(other.get('max'))}")
    prof = lat.get("profile") or {}
    if prof:
        section("where the time goes: py-spy in the latency phase, share of each worker's busy samples by area")
        for name, p in prof.items():
            if "error" in p:
                row(f"   {name}", f"no profile: {p['error']}")
                continue
            top = ", ".join(f"{a['area']} {a['share']:.0%}" for a in p["areas"][:5])
            row(f"   {name} ({p['busy_samples']} busy samples)", top)
    section(f"6. CPU steal per phase: the share of the machine's CPU the hypervisor gave to other guests "
            f"(> {STEAL_LIMIT:.0%}: not comparable)")
    for name, st in (r.get("steal") or {}).items():
        row(f"   {name} ({_fmt(st.get('seconds'))} s)", _steal_share(st))
    if not r.get("steal"):
        row("   every phase", "not measured")
    rec = r.get("recovery") or {}
    section("7. recovery: a worker killed (SIGKILL), its data dir wiped, restarted; seconds to ready")
    for point in rec.get("points") or []:
        row(f"   {point['service']} after {_fmt(point['orders'])} orders",
            f"{_fmt(point['seconds_to_ready'])} s  ({_fmt(point['changelog_records'])} changelog records)")
    if not rec.get("points"):
        row("   every worker", f"not measured{': ' + rec['skipped'] if rec.get('skipped') else ''}")
    rt = r.get("ratios") or {}
    section("ratios (informative)")
    row(rt.get("pipeline_vs_bare_agent_formula", ""), None if rt.get("pipeline_vs_bare_agent") is None
        else f"{rt['pipeline_vs_bare_agent']:.1%}")
    row("   the same against the agent that awaits each ack", None if rt.get("pipeline_vs_bare_agent_await_ack") is None
        else f"{rt['pipeline_vs_bare_agent_await_ack']:.1%}")
    row(rt.get("writes_vs_broker_formula", ""), None if rt.get("writes_vs_broker") is None
        else f"{rt['writes_vs_broker']:.1%}")
    section("targets")
    for t in r.get("targets") or []:
        verdict = {True: "met", False: "NOT MET", None: "review"}[t["met"]] if t["value"] is not None \
            else "not measured"
        row(t["target"], f"{_fmt(t['value'])}  -> {verdict}")
    width = max((len(name) for name, value in rows if value), default=0)  # section titles stand alone
    return "\n".join(f"{name:<{width}}  {value}" if value else name for name, value in rows)


def chart(r: dict[str, Any], path: Path) -> Path | None:
    """Throughput and latency over time, per second, phases shaded (matplotlib, Agg)."""
    tl = r.get("timeline") or {}
    if not tl.get("t_s"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom, cpu) = plt.subplots(3, 1, figsize=(11, 9), sharex=True,
                                           gridspec_kw={"height_ratios": [3, 3, 2]})
    t = tl["t_s"]
    top.step(t, tl["confirmed_per_s"], where="post", label="CONFIRMED/s", color="tab:green", linewidth=2)
    top.step(t, tl["offered_per_s"], where="post", label="offered checkouts/s", color="black", linestyle="--",
             linewidth=1)
    if any(tl["errors"]):
        top.bar(t, tl["errors"], width=1.0, align="edge", color="tab:red", alpha=0.5, label="errors (by schedule)")
    top.set_ylabel("per second")
    top.legend(loc="upper right", fontsize="small")

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [(x, y) for x, y in zip(t, tl[key]) if y is not None]
        return [x for x, _ in pts], [y for _, y in pts]

    for key, label, color in (("placed_to_confirmed_p50_ms", "placed->CONFIRMED p50", "tab:blue"),
                              ("placed_to_confirmed_p99_ms", "placed->CONFIRMED p99", "tab:purple"),
                              ("checkout_p99_ms", "checkout call p99", "tab:orange")):
        xs, ys = series(key)
        bottom.plot(xs, ys, marker=".", linewidth=1, label=label, color=color)
    bottom.axhline(100, color="tab:purple", linestyle=":", linewidth=1, label="target 100 ms")
    bottom.axhline(50, color="tab:orange", linestyle=":", linewidth=1, label="target 50 ms")
    bottom.set_yscale("log")
    bottom.set_ylabel("ms (per second, log)")
    bottom.legend(loc="upper right", fontsize="small")
    if tl.get("platform_cores"):
        def cores(key: str) -> list[float]:
            return [x or 0.0 for x in tl[key]]

        cpu.stackplot(t, cores("platform_cores"), cores("bench_cores"), cores("other_cores"), step="post",
                      labels=["platform", "bench (load generator)", "other work on the machine"],
                      colors=["tab:green", "tab:gray", "tab:red"], alpha=0.6)
        if any(tl.get("steal_cores") or ()):
            cpu.step(t, cores("steal_cores"), where="post", color="black", linewidth=1,
                     label="stolen by the hypervisor")
        nproc = (r.get("machine") or {}).get("nproc")
        if nproc:
            cpu.axhline(nproc, color="black", linewidth=1, linestyle=":")
        cpu.set_ylabel("CPU cores in use")
        cpu.legend(loc="upper right", fontsize="small")
    cpu.set_xlabel("seconds since the load began")
    for i, ph in enumerate(tl.get("phases", [])):
        for ax in (top, bottom, cpu):
            color = ("tab:blue" if ph["name"] == "latency" else "tab:orange" if ph["name"].startswith("flash")
                     else "0.5")
            ax.axvspan(ph["start_s"], ph["end_s"], color=color, alpha=0.06 if i % 2 else 0.12)
        top.annotate(ph["name"], (ph["start_s"], 0.02), xycoords=("data", "axes fraction"),
                     fontsize=7, rotation=90, va="bottom")
    m = r.get("machine") or {}
    fig.suptitle(f"Megatron checkout bench ({r['bench']['profile']}): {m.get('nproc')} CPUs, {m.get('cpu_model')}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(r: dict[str, Any], out_dir: Path) -> tuple[Path, Path | None]:
    """``bench-<time>-<run>.json`` and ``.png`` under ``out_dir``; the JSON names the chart."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench-{r['bench']['started_at'][:19].replace(':', '').replace('-', '')}-{r['bench']['run_id']}"
    png = chart(r, out_dir / f"{stem}.png")
    r["bench"]["chart"] = str(png) if png else None
    path = out_dir / f"{stem}.json"
    path.write_text(json.dumps(r, indent=2, default=str))
    return path, png
