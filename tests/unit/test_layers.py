"""The pure core imports without Faust (issue: one clean house): checked in a fresh interpreter,
since this test session has long imported Faust itself."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import domain

ROOT = Path(__file__).resolve().parents[2]


def test_every_domain_module_imports_without_faust() -> None:
    modules = sorted(f"domain.{m.name}" for m in pkgutil.iter_modules(domain.__path__))
    assert "domain.orders" in modules and "domain.payment" in modules
    code = (f"import sys\nimport {', '.join(modules)}\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('faust', 'mode', 'aiokafka'))\n"
            "assert not loaded, loaded")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_import_contracts_are_kept() -> None:
    """setup.cfg's [importlinter] contracts, checked by import-linter over the real import graph."""
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "setup.cfg", "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout, proc.stdout[-2000:]
