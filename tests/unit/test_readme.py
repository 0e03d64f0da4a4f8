"""The README's settings and topic tables are generated from the code; they must not drift."""

from __future__ import annotations

from pathlib import Path

from config.settings import markdown_table as settings_table
from streams.topics import markdown_table as topics_table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_lists_every_setting_as_declared() -> None:
    assert settings_table() in README, "regenerate: python -m dev.readme"


def test_readme_lists_the_topic_catalog() -> None:
    assert topics_table() in README, "regenerate: python -m dev.readme"


def test_readme_shows_the_two_commands() -> None:
    assert "make run" in README and "make test" in README
