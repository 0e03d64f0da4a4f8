"""The fault schedule of a chaos run: which faults, on what, when and for how long, all from one seed.

Pure (no I/O): the same seed, duration and kinds give the same schedule, so a run that found a
violation is run again by its seed. Faults are spread evenly over the run with a random jitter
and drawn by weight from the kinds asked for; :mod:`chaos.inject` carries each one out and
serialises those on the same target (one broker node down at a time, one cut per store).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Fault", "KINDS", "plan", "describe"]

#: every fault kind, with what it does (``--faults`` picks some, by these names)
KINDS: dict[str, str] = {
    "kill": "SIGKILL a service worker, restart it after a pause, half the time on an empty data dir",
    "stop": "SIGSTOP a service worker for longer than its session timeout, then SIGCONT",
    "join": "a second worker of a service joins for a while and leaves (rebalances under load)",
    "broker": "SIGKILL one Kafka node, bring it back after a pause",
    "mysql": "cut MySQL off (every connection dropped, new ones refused), then restore it",
    "redis": "cut Redis off, then restore it",
    "upi": "the UPI gateway misbehaves for a while: 503s, connection resets after charging, late approvals",
    "upi-restart": "SIGKILL the UPI gateway simulator, restart it on its ledger after a pause",
    "redeliver": "the gateway's latest answers delivered twice (GatewayAnswered records published again)",
}
#: how often each kind is drawn, relative to the others
WEIGHTS = {"kill": 4, "stop": 1, "join": 1, "broker": 2, "mysql": 1, "redis": 1, "upi": 2, "upi-restart": 1,
           "redeliver": 1}
UPI_MODES = ("error", "reset", "late")


@dataclass(frozen=True)
class Fault:
    """One fault: starts ``at`` seconds into the run, on ``target``, held ``hold_s`` (a pause, a window)."""

    at: float
    kind: str
    target: str
    hold_s: float
    wipe: bool = False  # kill: restart on an empty data dir
    mode: str = ""  # upi: error, reset or late

    @property
    def lock(self) -> str:
        """Faults on one lock never overlap: a worker, one Kafka node at a time, a store, the gateway."""
        if self.kind == "broker":
            return "broker"
        if self.kind in ("upi", "upi-restart"):
            return "upi"
        return self.target

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def plan(seed: int, duration_s: float, count: int, kinds: list[str], services: tuple[str, ...],
         brokers: int, session_timeout_s: float) -> list[Fault]:
    """``count`` faults of ``kinds`` over the first ``duration_s`` seconds, from ``seed``.

    A broker fault needs a cluster (``brokers`` >= 3: one node down leaves two in sync)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown fault kinds {unknown}: choose from {', '.join(KINDS)}")
    if "broker" in kinds and brokers < 3:
        raise ValueError("broker faults need a cluster of at least three nodes (--brokers 3)")
    if count < 0 or duration_s <= 0:
        raise ValueError("a positive duration and a fault count >= 0")
    rng = random.Random(seed)
    weights = [WEIGHTS[k] for k in kinds]
    step = duration_s / max(count, 1)
    faults = []
    for i in range(count):
        at = round(i * step + rng.uniform(0, step * 0.8), 2)
        kind = rng.choices(kinds, weights)[0]
        faults.append(_draw(rng, at, kind, services, brokers, session_timeout_s))
    return faults


def _draw(rng: random.Random, at: float, kind: str, services: tuple[str, ...], brokers: int,
          session_timeout_s: float) -> Fault:
    if kind == "kill":
        return Fault(at, kind, rng.choice(services), round(rng.uniform(0.5, 5.0), 2), wipe=rng.random() < 0.5)
    if kind == "stop":
        return Fault(at, kind, rng.choice(services), round(session_timeout_s + rng.uniform(1.0, 4.0), 2))
    if kind == "join":
        return Fault(at, kind, rng.choice(services), round(rng.uniform(10.0, 30.0), 2))
    if kind == "broker":
        return Fault(at, kind, f"broker-{rng.randint(1, brokers)}", round(rng.uniform(2.0, 10.0), 2))
    if kind in ("mysql", "redis"):
        return Fault(at, kind, kind, round(rng.uniform(1.0, 8.0), 2))
    if kind == "upi":
        return Fault(at, kind, "upi-gateway", round(rng.uniform(2.0, 8.0), 2), mode=rng.choice(UPI_MODES))
    if kind == "upi-restart":
        return Fault(at, kind, "upi-gateway", round(rng.uniform(0.5, 3.0), 2))
    return Fault(at, kind, "payment-commands", 0.0)  # redeliver


def describe(faults: list[Fault]) -> dict[str, int]:
    """Faults per kind (a kill on an empty data dir counted as ``kill+wipe``)."""
    out: dict[str, int] = {}
    for f in faults:
        name = f"{f.kind}+wipe" if f.wipe else f"{f.kind}:{f.mode}" if f.mode else f.kind
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items()))
