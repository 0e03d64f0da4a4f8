"""``python -m bench --quick`` against the session's platform: it runs and reports every figure.

Never a timing assertion: the figures depend on the machine and on what else runs on it.
The test checks that the benchmark is well-formed, not how fast the platform is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dev.platform import ROOT, Platform

pytestmark = pytest.mark.integration

#: every figure the report prints, as a path into the JSON
FIGURES = [
    ("ceilings", "broker", "produce_msgs_per_s"),
    ("ceilings", "broker", "consume_msgs_per_s"),
    ("ceilings", "bare_agent", "msgs_per_s"),
    ("ceilings", "bare_agent_await_ack", "msgs_per_s"),
    ("per_order", "written_per_order"),
    ("per_order", "consumed_per_order"),
    ("per_order", "written_by_topic"),
    ("per_order", "consumed_by_group"),
    ("capacity", "sustained_confirmed_per_s"),
    ("capacity", "steps"),
    ("flash", "capacity", "sustained_confirmed_per_s"),
    ("flash", "capacity", "steps"),
    ("latency", "offered_per_s"),
    ("latency", "confirmed"),
    ("latency", "checkout_ms", "p99"),
    ("latency", "placed_to_confirmed_ms", "p99"),
    ("latency", "history_split_ms"),
    ("latency", "journey"),
    ("latency", "mirror_lag_ms", "p99"),
    ("latency", "mirror_lag_workers_ms", "p99"),
    ("latency", "errors"),
    ("latency", "generator", "start_lag_ms", "p99"),
    ("cost", "processes"),
    ("cost", "cpu_s_per_1000_confirmed_latency"),
    ("ratios", "pipeline_vs_bare_agent"),
    ("ratios", "writes_vs_broker"),
    ("targets",),
    ("timeline", "confirmed_per_s"),
    ("steal", "idle", "share"),
    ("steal", "latency", "share"),
    ("steal", "flash", "share"),
    ("timeline", "steal_cores"),
]


def _at(result: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        assert isinstance(value, dict) and key in value, f"missing {'.'.join(path)}"
        value = value[key]
    return value


def test_quick_bench_reports_every_figure(platform: Platform, tmp_path: Path) -> None:
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--gateway", platform.settings.gateway_url, "--output", str(out)],
        cwd=ROOT, env={**os.environ, **platform.env}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    files = list(out.glob("*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())

    for path in FIGURES:
        assert _at(result, path) is not None, f"{'.'.join(path)} is empty"
    assert result["latency"]["confirmed"] > 0
    assert result["per_order"]["orders"] > 0
    assert {"broker", "gateway", "orders", "inventory", "payment", "cart", "notification"} <= set(
        result["cost"]["processes"])
    assert all(t["met"] in (True, False, None) for t in result["targets"])
    assert Path(result["bench"]["chart"]).stat().st_size > 0
    assert "targets" in proc.stdout  # the table was printed
