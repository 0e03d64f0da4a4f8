"""The notification service's table: what was already sent per order (the catalog's :data:`tables.catalog.SENT`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.notifications import Sent
from tables.catalog import SENT
from tables.model_table import ModelTable, model_table

if TYPE_CHECKING:
    from config.app import ServiceApp

__all__ = ["sent_table"]


def sent_table(app: "ServiceApp") -> ModelTable[Sent]:
    return model_table(app, SENT)
