"""Contracts: the event and command models and the topic catalog."""

from streams.commands import *  # noqa: F401,F403
from streams.events import *  # noqa: F401,F403
from streams.schema import SCHEMA, CatalogSchema, DeadLetter
from streams.topics import *  # noqa: F401,F403
from streams import commands as _c, events as _e, topics as _t

__all__ = [*_e.__all__, *_c.__all__, *_t.__all__, "SCHEMA", "CatalogSchema", "DeadLetter"]
