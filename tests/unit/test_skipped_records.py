"""skipped_records: holes in what each service handled, read from the workers' logs."""

from __future__ import annotations

import json
from pathlib import Path

from dev.invariants import skipped_records


def handled(service: str, topic: str, partition: int, offset: int) -> str:
    return (f"ts=2026-11-26 12:54:03,620 level=info msg=handled service={service} topic={topic} "
            f"partition={partition} offset={offset} type=OrderPlaced order_id=x event_id=y ms=1.2")


def test_a_complete_run_has_no_holes_whatever_the_order_or_duplicates(tmp_path: Path) -> None:
    (tmp_path / "orders.log").write_text("\n".join(
        [handled("orders", "order-commands", 2, o) for o in (0, 1, 2, 1, 2, 3)] + ["[faust] some other line"]))
    assert skipped_records(tmp_path) == []


def test_holes_are_reported_per_service_topic_and_partition(tmp_path: Path) -> None:
    (tmp_path / "payment.log").write_text("\n".join(
        handled("payment", "order-events", 2, o) for o in [*range(0, 550), 563, 564]))
    (tmp_path / "orders.log").write_text("\n".join(handled("orders", "order-commands", 1, o) for o in (0, 2)))
    assert skipped_records(tmp_path) == [
        "orders never handled order-commands[1] offsets 1",
        "payment never handled order-events[2] offsets 550..562",
    ]


def test_dead_letters_json_lines_and_a_second_worker_count_as_handled(tmp_path: Path) -> None:
    (tmp_path / "orders.log").write_text(handled("orders", "order-commands", 0, 0) + "\n" +
                                         "[2026-11-26] [1] [ERROR] dead letter from order-commands[0]@1: bad json\n")
    (tmp_path / "orders-2.log").write_text(json.dumps(
        {"msg": "handled", "service": "orders", "topic": "order-commands", "partition": 0, "offset": 2}) + "\n")
    (tmp_path / "upi-gateway.log").write_text(handled("orders", "order-commands", 0, 9))  # not a worker's log
    assert skipped_records(tmp_path) == []
