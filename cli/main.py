"""``megatron`` console script: imports every command module, then runs Faust's command line."""

from __future__ import annotations

from cli import analysts, operators  # noqa: F401  (they register their commands)
from cli.app import app


def main() -> None:
    app.main()


if __name__ == "__main__":
    main()
