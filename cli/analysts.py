"""Analysts' commands: replay and study what happened, from the topics."""

from __future__ import annotations

__all__: list[str] = []
