"""The run's figures for people: the two ratios, each target met or not, one table, JSON and a chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["ratios", "targets", "table", "write", "chart"]


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
    """Each target of the issue with the measured value and met / not met (``None``: judged by review)."""
    rt = r.get("ratios") or ratios(r)
    lat = r.get("latency") or {}

    def below(value: Any, bound: float) -> bool | None:
        return None if value is None else value < bound

    share = rt["pipeline_vs_bare_agent"]
    errors = sum((lat.get("errors") or {}).values()) if lat else None
    return [
        {"target": "sustained orders/s x consumed per order >= 25% of the bare-agent rate",
         "value": None if share is None else f"{share:.1%}", "met": None if share is None else share >= 0.25},
        {"target": "placed -> CONFIRMED p99 < 150 ms at half capacity",
         "value": _ms(_get(lat, "placed_to_confirmed_ms", "p99")),
         "met": below(_get(lat, "placed_to_confirmed_ms", "p99"), 150)},
        {"target": "checkout call p99 < 50 ms at half capacity",
         "value": _ms(_get(lat, "checkout_ms", "p99")), "met": below(_get(lat, "checkout_ms", "p99"), 50)},
        {"target": "mirror lag p99 < 1 s at half capacity",
         "value": _ms(_get(lat, "mirror_lag_ms", "p99")), "met": below(_get(lat, "mirror_lag_ms", "p99"), 1000)},
        {"target": "zero errors at half capacity", "value": errors, "met": None if errors is None else errors == 0},
        {"target": "messages per order as few as the design allows",
         "value": f"{_get(r, 'per_order', 'written_per_order')} written / "
                  f"{_get(r, 'per_order', 'consumed_per_order')} consumed",
         "met": None},
    ]


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
    section(f"2. per confirmed order ({po.get('orders')} orders, offsets {'settled' if po.get('settled') else 'NOT settled'})")
    row("messages written (any topic)", po.get("written_per_order"))
    for topic, n in (po.get("written_by_topic") or {}).items():
        row(f"   written to {topic}", n["per_order"])
    row("messages consumed (any agent)", po.get("consumed_per_order"))
    for group, topics in (po.get("consumed_by_group") or {}).items():
        for topic, n in topics.items():
            row(f"   {group} <- {topic}", n["per_order"])
    cap = r.get("capacity") or {}
    section("3. capacity")
    for step in cap.get("steps", []):
        row(f"   offered {step['offered_per_s']:g}/s -> confirmed/s (p99 placed->CONFIRMED ms)",
            f"{step['confirmed_per_s']:g} ({_fmt(step['placed_to_confirmed_ms']['p99'])})"
            f"{'' if step['sustained'] else '  NOT sustained'}")
    row("highest sustained confirmed orders/s", cap.get("sustained_confirmed_per_s"))
    row("limited by", cap.get("limited_by"))
    lat = r.get("latency") or {}
    section(f"4. latency at half capacity: {_fmt(lat.get('offered_per_s'))}/s for {_fmt(lat.get('duration_s'))} s, "
            "open loop; p50 / p95 / p99 / max ms")
    row("shoppers / orders placed / confirmed",
        f"{lat.get('shoppers')} / {lat.get('placed')} / {lat.get('confirmed')}")
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
    section("5. cost: CPU s in the latency phase / whole load, peak RSS MB")
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
    rt = r.get("ratios") or {}
    section("ratios")
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
    width = max(len(name) for name, _ in rows)
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
    bottom.axhline(150, color="tab:purple", linestyle=":", linewidth=1, label="target 150 ms")
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
        nproc = (r.get("machine") or {}).get("nproc")
        if nproc:
            cpu.axhline(nproc, color="black", linewidth=1, linestyle=":")
        cpu.set_ylabel("CPU cores in use")
        cpu.legend(loc="upper right", fontsize="small")
    cpu.set_xlabel("seconds since the load began")
    for i, ph in enumerate(tl.get("phases", [])):
        for ax in (top, bottom, cpu):
            ax.axvspan(ph["start_s"], ph["end_s"], color="tab:blue" if ph["name"] == "latency" else "0.5",
                       alpha=0.06 if i % 2 else 0.12)
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
