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


def test_readme_folder_map_matches_the_tree() -> None:
    """Every folder the map names exists, and every top-level folder of the project is in it."""
    import re

    root = Path(__file__).resolve().parents[2]
    section = README.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    mapped = set(re.findall(r"^\| `([a-z_]+)/` \|", section, re.M))
    tree = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
            and not p.name.endswith(".egg-info") and p.name not in {"var", "build", "dist", "node_modules"}}
    assert mapped == tree
