"""Flow control that does not throw away records delivered while the flow was running.

``mode``'s ``FlowControlEvent.resume()`` clears every stream and channel queue, even when the flow was
not suspended. Faust (0.15.3) calls it at the end of recovery, after its seek to the committed offsets
(``Recovery._resume_streams``, and the same lines after the changelogs are read). The source partitions
were resumed before that seek, and the flow had been running since the changelog reading began. So
records fetched from the committed offset while the seek was answered sit in the channel queues, and
``resume()`` drops them. Nothing tells the delivery guard, which counted them as handed on.

That fits the record the CI run of 2026-12-07 lost. After a rebalance, inventory-events[1]@73 never
reached the order service, while 74 did. The commit waited at 73, and the guard re-read it 10 s later.

Resumed from a suspension (a rebalance's revoke), the queues hold records of the old assignment, and
they are cleared as before. Resumed while running, nothing is stale: a record fetched from the old
position is either a duplicate, which handlers ignore, or past a hole, which the guard re-reads.
"""

from __future__ import annotations

from mode.utils.queues import FlowControlEvent

__all__ = ["KeepingFlowControl"]


class KeepingFlowControl(FlowControlEvent):
    def resume(self) -> None:
        """Resume production into the queues; clear them only if it was suspended."""
        was_suspended = not self.is_active()
        self._suspend.clear()
        self._resume.set()
        if was_suspended:
            self.clear()
