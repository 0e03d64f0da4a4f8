"""``make run``: the whole platform in the foreground; Ctrl-C (or SIGTERM) stops it all cleanly."""

from __future__ import annotations

import os
import signal
import sys
import time

from config.settings import SERVICES
from dev.platform import Platform


def main() -> int:
    platform = Platform(env={}, start_broker="KAFKA_BROKER" not in os.environ)
    s = platform.settings
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    started = time.monotonic()
    print(f"starting Megatron Store checkout (broker {s.kafka_broker}, "
          f"{f'Apache Kafka started here, its log in {s.kafka_storage}' if platform.start_broker else 'external'})"
          " ...", flush=True)
    try:
        platform.start()
    except Exception as exc:
        print(f"start failed: {exc}", file=sys.stderr)
        platform.stop()
        return 1
    if platform.fresh_broker:
        print("a new broker storage was formatted: the shop starts empty (tables and mirror reset)")
    print(f"\nready in {time.monotonic() - started:.1f}s: the shop is at {s.gateway_url}/  "
          f"(API: {s.gateway_url}/products)\n")
    print(f"{'process':<14} {'url':<28} log")
    for name, proc in platform.procs.items():
        url = s.service_url(name) if name in SERVICES else {
            "upi-gateway": s.upi_gateway_url, "mail-sink": f"smtp://{s.smtp_host}:{s.smtp_port}",
            "broker": s.kafka_broker}.get(name, "")
        print(f"{name:<14} {url:<28} {proc.log}")
    print(f"\nemails land in {s.mail_dir}/ ; Ctrl-C stops everything.", flush=True)
    while not stopping:
        dead = [n for n, p in platform.procs.items() if not p.alive]
        if dead:
            print(f"stopped unexpectedly: {', '.join(dead)} (see its log); shutting down", file=sys.stderr)
            break
        time.sleep(0.5)
    print("stopping ...", flush=True)
    platform.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
