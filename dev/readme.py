"""Regenerate the README's settings and topic tables from the code (``python -m dev.readme``)."""

from __future__ import annotations

import re
from pathlib import Path

from config.settings import markdown_table as settings_table
from streams.topics import markdown_table as topics_table

README = Path(__file__).resolve().parent.parent / "README.md"


def regenerate(text: str) -> str:
    for name, table in (("topics", topics_table()), ("settings", settings_table())):
        text = re.sub(rf"(<!-- {name}:begin -->\n).*?(\n<!-- {name}:end -->)",
                      lambda m: m.group(1) + table + m.group(2), text, flags=re.S)
    return text


if __name__ == "__main__":
    README.write_text(regenerate(README.read_text()))
