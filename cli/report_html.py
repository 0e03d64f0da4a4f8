"""The report as one self-contained HTML page: inline CSS and SVG charts drawn here, no script, no CDN.

An analyst opens the file anywhere (mail attachment, offline laptop) and sees the same page.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from html import escape
from typing import Callable, Sequence

from cli.report import STEPS, Minute, Report
from domain.money import format_inr

__all__ = ["render_html", "compact_inr", "format_ms"]

COLORS = {"placed": "#4e79a7", "reserved": "#76b7b2", "paid": "#f28e2b", "confirmed": "#59a14f",
          "failed": "#e15759", "revenue": "#b07aa1", "grid": "#e3e6ea", "text": "#2b2f36", "muted": "#6b7280"}
MAX_FILLED_MINUTES = 24 * 60  # a longer range charts only the minutes with activity


def compact_inr(paise: int) -> str:
    """Rupees the Indian way, short enough for an axis: ₹950, ₹12.5K, ₹3.2L, ₹1.1Cr."""
    rupees = paise / 100
    for size, unit in ((1e7, "Cr"), (1e5, "L"), (1e3, "K")):
        if abs(rupees) >= size:
            return f"₹{f'{rupees / size:.1f}'.rstrip('0').rstrip('.')}{unit}"
    return f"₹{rupees:,.0f}"


def format_ms(ms: float | int | None) -> str:
    if ms is None:
        return "–"
    return f"{ms:,.0f} ms" if ms < 10_000 else f"{ms / 1000:,.1f} s"


def _nice_max(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2, 2.5, 5 x 10^n)."""
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _axis_top(value: float, integer: bool) -> float:
    """The top of a y axis with four grid steps; whole numbers per step for counts."""
    top = _nice_max(value)
    return float(max(4, math.ceil(top / 4) * 4)) if integer else top


def _svg(width: int, height: int, title: str, body: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-label="{escape(title)}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="inherit" font-size="12">'
            f"<title>{escape(title)}</title>{body}</svg>")


def hbar_chart(title: str, rows: Sequence[tuple[str, int, str]], note: Callable[[int], str] = str) -> str:
    """Horizontal bars: ``(label, value, color)``; the value (and ``note(value)``) after each bar."""
    if not rows:
        return '<p class="empty">Nothing to show.</p>'
    width, label_w, bar_h, gap, right = 520, 140, 24, 10, 90
    height = len(rows) * (bar_h + gap) + gap
    top = max(v for _, v, _ in rows) or 1
    parts = []
    for i, (label, value, color) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        w = (width - label_w - right) * value / top
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end" fill="{COLORS["text"]}">'
            f"{escape(label)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" rx="3" fill="{color}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h / 2 + 4}" fill="{COLORS["text"]}">'
            f"{escape(note(value))}</text>")
    return _svg(width, height, title, "".join(parts))


def column_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
                 axis: Callable[[float], str] = lambda v: f"{v:g}", integer: bool = True) -> str:
    """Columns per label, one per series side by side, with a y axis and a legend."""
    if not labels:
        return '<p class="empty">Nothing to show.</p>'
    width, height, left, bottom, top_pad, legend_h = 1000, 260, 70, 30, 10, 24
    plot_w, plot_h = width - left - 10, height - bottom - top_pad - legend_h
    top = _axis_top(max((v for _, values, _ in series for v in values), default=0), integer)
    slot = min(plot_w / len(labels), 90.0)  # a few minutes: narrow columns from the left, not slabs
    bar_w = max(slot * 0.8 / len(series), 0.5)
    y0 = top_pad + legend_h + plot_h
    parts = []
    for i in range(5):  # grid and y labels
        v = top * i / 4
        y = y0 - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="{COLORS["grid"]}"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{COLORS["muted"]}">'
                     f"{escape(axis(v))}</text>")
    for s, (name, values, color) in enumerate(series):
        for i, v in enumerate(values):
            if v <= 0:
                continue
            h = plot_h * v / top
            x = left + i * slot + slot * 0.1 + s * bar_w
            parts.append(f'<rect x="{x:.2f}" y="{y0 - h:.2f}" width="{bar_w:.2f}" height="{h:.2f}" fill="{color}">'
                         f"<title>{escape(labels[i])} {escape(name)}: {escape(axis(v))}</title></rect>")
    every = max(1, math.ceil(len(labels) / 12))  # at most a dozen x labels
    for i in range(0, len(labels), every):
        x = left + i * slot + slot / 2
        parts.append(f'<text x="{x:.1f}" y="{y0 + 18}" text-anchor="middle" fill="{COLORS["muted"]}">'
                     f"{escape(labels[i])}</text>")
    x = left
    for name, _, color in series:  # legend
        parts.append(f'<rect x="{x}" y="{top_pad}" width="12" height="12" rx="2" fill="{color}"/>'
                     f'<text x="{x + 18}" y="{top_pad + 11}" fill="{COLORS["text"]}">{escape(name)}</text>')
        x += 18 + 8 * len(name) + 24
    return _svg(width, height, title, "".join(parts))


def latency_chart(title: str, latencies_ms: Sequence[float], marks: dict[str, float | None]) -> str:
    """Histogram of placed-to-confirmed times with the percentiles marked."""
    if not latencies_ms:
        return '<p class="empty">No confirmed orders in the range.</p>'
    bins = min(24, max(6, len(latencies_ms) // 2))
    high = max(latencies_ms) or 1.0
    counts = [0] * bins
    for v in latencies_ms:
        counts[min(int(v / high * bins), bins - 1)] += 1
    width, height, left, bottom, top_pad = 1000, 240, 50, 30, 30
    plot_w, plot_h = width - left - 40, height - bottom - top_pad  # room for the last x label
    top = _axis_top(max(counts), True)
    y0 = top_pad + plot_h
    slot = plot_w / bins
    parts = []
    for i in range(5):
        y = y0 - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{COLORS["grid"]}"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{COLORS["muted"]}">'
                     f"{top * i / 4:g}</text>")
    for i, c in enumerate(counts):
        if c:
            h = plot_h * c / top
            parts.append(f'<rect x="{left + i * slot + 1:.2f}" y="{y0 - h:.2f}" width="{slot - 2:.2f}" '
                         f'height="{h:.2f}" fill="{COLORS["confirmed"]}" opacity="0.8">'
                         f"<title>{format_ms(high * i / bins)} – {format_ms(high * (i + 1) / bins)}: {c}</title></rect>")
    for i in range(0, bins + 1, max(1, bins // 6)):
        x = left + i * slot
        parts.append(f'<text x="{x:.1f}" y="{y0 + 18}" text-anchor="middle" fill="{COLORS["muted"]}">'
                     f"{escape(format_ms(high * i / bins))}</text>")
    for n, (name, value) in enumerate(marks.items()):
        if value is None:
            continue
        x = left + plot_w * value / high
        right_half = x > left + plot_w / 2  # label on the side with room
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top_pad - 4}" y2="{y0}" stroke="{COLORS["text"]}" '
                     f'stroke-dasharray="4 3"/>'
                     f'<text x="{x - 4 if right_half else x + 4:.1f}" y="{top_pad + 6 + 14 * n}" '
                     f'text-anchor="{"end" if right_half else "start"}" fill="{COLORS["text"]}">'
                     f"{escape(name)} {escape(format_ms(value))}</text>")
    return _svg(width, height, title, "".join(parts))


def _series(minutes: list[Minute]) -> list[Minute]:
    """Every minute from the first to the last active one (zeros between), unless that is too many."""
    if not minutes:
        return []
    span = int((minutes[-1].start - minutes[0].start) / timedelta(minutes=1)) + 1
    if span > MAX_FILLED_MINUTES:
        return minutes
    by_start = {m.start: m for m in minutes}
    return [by_start.get(minutes[0].start + timedelta(minutes=i), Minute(minutes[0].start + timedelta(minutes=i)))
            for i in range(span)]


def _range_text(report: Report) -> str:
    r = report.range
    since = r.since.strftime("%Y-%m-%d %H:%M:%S UTC") if r.since else "the beginning"
    until = r.until.strftime("%Y-%m-%d %H:%M:%S UTC") if r.until else "now"
    return f"{since} → {until}"


def _tile(label: str, value: str, detail: str = "") -> str:
    return (f'<div class="tile"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div>'
            f'<div class="detail">{escape(detail)}</div></div>')


def render_html(report: Report, generated_at: datetime | None = None) -> str:
    generated = (generated_at or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S UTC")
    f = report.funnel
    placed = f.get("placed", 0)
    share = (lambda n: f"{n / placed:.1%} of placed") if placed else (lambda n: "")
    lat = report.latency
    series = _series(report.minutes)
    labels = [m.start.strftime("%H:%M") for m in series]
    tiles = "".join([
        _tile("Orders placed", f"{placed:,}"),
        _tile("Confirmed", f"{f.get('confirmed', 0):,}", share(f.get("confirmed", 0))),
        _tile("Failed", f"{report.failed:,}", share(report.failed)),
        _tile("Revenue", format_inr(report.revenue_paise), "confirmed in the range"),
        _tile("Placed → confirmed", format_ms(lat["p50_ms"]),
              f"p95 {format_ms(lat['p95_ms'])} · p99 {format_ms(lat['p99_ms'])}"),
    ])
    funnel = hbar_chart("Checkout funnel", [(s, f.get(s, 0), COLORS[s]) for s in STEPS],
                        note=lambda n: f"{n:,}" + (f"  ({n / placed:.0%})" if placed else ""))
    failures = hbar_chart("Failures by reason", [(r, n, COLORS["failed"]) for r, n in report.failures.items()])
    orders_chart = column_chart("Orders per minute", labels,
                                [("placed", [m.placed for m in series], COLORS["placed"]),
                                 ("confirmed", [m.confirmed for m in series], COLORS["confirmed"])])
    revenue_chart = column_chart("Revenue per minute", labels,
                                 [("revenue", [m.revenue_paise for m in series], COLORS["revenue"])],
                                 axis=lambda v: compact_inr(int(v)), integer=False)
    latency = latency_chart("Placed to confirmed", report.latencies_ms,
                            {"p50": lat["p50_ms"], "p95": lat["p95_ms"], "p99": lat["p99_ms"]})
    rows = "".join(f"<tr><td>{m.start.strftime('%Y-%m-%d %H:%M')}</td><td>{m.placed}</td><td>{m.confirmed}</td>"
                   f"<td>{escape(format_inr(m.revenue_paise))}</td></tr>" for m in report.minutes)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Megatron Store · checkout report · {escape(_range_text(report))}</title>
<style>
  body {{ font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: {COLORS["text"]};
         margin: 0; background: #f6f7f9; }}
  header {{ background: #1f2937; color: #fff; padding: 20px 32px; }}
  header h1 {{ margin: 0 0 4px; font-size: 22px; }}
  header p {{ margin: 0; color: #cbd5e1; }}
  main {{ max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; }}
  .tiles {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(190px, 1fr)); gap: 12px; }}
  .tile {{ background: #fff; border-radius: 8px; padding: 14px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.06); }}
  .tile .label {{ color: {COLORS["muted"]}; font-size: 13px; }}
  .tile .value {{ font-size: 26px; font-weight: 600; margin: 4px 0; }}
  .tile .detail {{ color: {COLORS["muted"]}; font-size: 12px; min-height: 14px; }}
  .grid2 {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }}
  section {{ background: #fff; border-radius: 8px; padding: 16px 20px; margin-top: 16px;
            box-shadow: 0 1px 2px rgba(0,0,0,.06); }}
  h2 {{ font-size: 16px; margin: 0 0 10px; }}
  .note {{ color: {COLORS["muted"]}; font-size: 13px; margin: -4px 0 10px; }}
  .empty {{ color: {COLORS["muted"]}; }}
  table {{ border-collapse: collapse; width: 100%; font-size: 13px; }}
  th, td {{ text-align: right; padding: 5px 10px; border-bottom: 1px solid {COLORS["grid"]}; }}
  th:first-child, td:first-child {{ text-align: left; }}
</style>
</head>
<body>
<header>
  <h1>Megatron Store · checkout report</h1>
  <p>{escape(_range_text(report))} · generated {escape(generated)} from order-, inventory- and payment-events</p>
</header>
<main>
  <div class="tiles">{tiles}</div>
  <div class="grid2">
    <section><h2>Checkout funnel</h2>
      <p class="note">Orders placed in the range, followed to where they got.</p>{funnel}</section>
    <section><h2>Failures by reason</h2>
      <p class="note">{report.in_progress:,} still in progress.</p>{failures}</section>
  </div>
  <section><h2>Orders per minute</h2>{orders_chart}</section>
  <section><h2>Revenue per minute</h2><p class="note">Confirmed orders, by the minute they were confirmed.</p>
    {revenue_chart}</section>
  <section><h2>Placed → confirmed</h2>
    <p class="note">{lat["orders"]:,} confirmed orders; percentiles by nearest rank.</p>{latency}</section>
  <section><h2>Per minute</h2>
    <table><thead><tr><th>minute (UTC)</th><th>placed</th><th>confirmed</th><th>revenue</th></tr></thead>
    <tbody>{rows}</tbody></table></section>
</main>
</body>
</html>
"""
