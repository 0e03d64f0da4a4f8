"""Resuming a running flow keeps what the queues hold; resuming a suspended one clears them."""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from config.app import create_app
from config.flow_control import KeepingFlowControl


def queue_after_resume(flow: FlowControlEvent, suspend_first: bool) -> list[str]:
    queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
    flow.resume()
    if suspend_first:
        flow.suspend()
    queue.put_nowait("inventory-events[1]@73")
    flow.resume()  # the end of Faust's recovery, after its seek to the committed offsets
    return [queue.get_nowait() for _ in range(queue.qsize())]


def test_faust_drops_records_queued_while_the_flow_ran() -> None:
    """The behaviour this module replaces: the record fetched during the seek is gone, unannounced."""
    assert queue_after_resume(FlowControlEvent(), suspend_first=False) == []


def test_a_running_flow_resumed_keeps_its_records_and_a_suspended_one_is_cleared() -> None:
    assert queue_after_resume(KeepingFlowControl(), suspend_first=False) == ["inventory-events[1]@73"]
    assert queue_after_resume(KeepingFlowControl(), suspend_first=True) == [], "records of the old assignment"


def test_the_services_use_it_while_the_delivery_guard_runs() -> None:
    assert isinstance(create_app("orders").flow_control, KeepingFlowControl)
