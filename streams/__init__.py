"""Contracts: the event and command models (``streams.events``, ``streams.commands``), the topic
catalog (``streams.topics``) and the one Faust schema that reads them (``streams.schema``).

Nothing is imported here: the models and the catalog load without Faust, so the pure core
(``domain/``) imports them and stays importable and testable without it.
"""
