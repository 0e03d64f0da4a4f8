"""A local SMTP server (aiosmtpd) that writes every message it receives to ``MAIL_DIR`` as a .eml file.

Its log (``var/log/mail-sink.log``) has one line per message with the recipient masked, and
aiosmtpd's own warnings; every line passes the personal data filter (``config.logs``). The
file names hold the recipient in clear: they are the mailbox, not a log.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from config.logs import configure_process_logging
from config.settings import get_settings
from domain.privacy import mask_email

__all__ = ["MailDir", "read_mail"]

log = logging.getLogger("megatron.mail_sink")


class MailDir:
    """aiosmtpd handler: one file per message and recipient."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            name = f"{time.time():.6f}-{uuid.uuid4().hex[:6]}-{_file_part(rcpt)}.eml"
            tmp = self.folder / f".{name}"
            tmp.write_bytes(envelope.original_content or envelope.content)
            tmp.rename(self.folder / name)  # a reader never sees half a message
            log.info("message for %s stored", mask_email(rcpt))
        return "250 Message accepted for delivery"


def _file_part(recipient: str) -> str:
    """The recipient as part of a file name: as it is when short, else a digest (a name has 255 bytes)."""
    safe = recipient.replace("/", "_")
    return safe if len(safe.encode()) <= 120 else hashlib.sha256(safe.encode()).hexdigest()


def read_mail(folder: Path, recipient: str | None = None) -> list[str]:
    """Messages in the sink, oldest first, optionally only those to ``recipient``."""
    files = sorted(p for p in folder.glob("*.eml")
                   if recipient is None or p.name.endswith(f"-{_file_part(recipient)}.eml"))
    return [p.read_text(errors="replace") for p in files]


def main() -> None:
    s = get_settings()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=s.smtp_host)
    parser.add_argument("--port", type=int, default=s.smtp_port)
    parser.add_argument("--dir", type=Path, default=s.mail_dir)
    args = parser.parse_args()
    configure_process_logging()
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    controller = Controller(MailDir(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mail sink: smtp://{args.host}:{args.port} -> {args.dir}/", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
