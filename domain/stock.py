"""Stock arithmetic per SKU, and the per-order fold of the per-SKU answers.

A SKU's partition owns its :class:`StockLevel` and one :class:`Hold` per order line,
so a reservation is decided in one place and a repeated command finds its hold and
answers the same again: nothing is reserved, committed or released twice.
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict

from streams.commands import (
    CommitStock, ReleaseStock, ReserveStock, SetStock, StockRejected, StockReleased, StockReserved,
)
from streams.events import InventoryFailed, InventoryReleased, InventoryReserved, Message

__all__ = ["StockLevel", "HoldState", "Hold", "hold_key", "is_hold_key", "apply_stock", "Reservation", "fold_result"]


class StockLevel(BaseModel):
    """Units on the shelf and units promised to orders not yet confirmed."""

    model_config = ConfigDict(frozen=True)

    sku: str
    on_hand: int = 0
    reserved: int = 0
    version: int = 0
    #: (partition, offset) of the last stock command that changed this level. A count (absolute) read again
    #: at or before it is not applied again: it must not undo the sales since. A hold's command at exactly
    #: it is already counted here, its hold lost to a crash between the two writes; any other hold's command
    #: is told apart by its hold alone, so one read late (after later ones) still counts
    applied_at: tuple[int, int] | None = None

    @property
    def available(self) -> int:
        return max(self.on_hand - self.reserved, 0)


class HoldState(str, Enum):
    HELD = "HELD"
    REJECTED = "REJECTED"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"


class Hold(BaseModel):
    """What one order asked of one SKU and where that stands."""

    model_config = ConfigDict(frozen=True)

    quantity: int
    state: HoldState


def hold_key(sku: str, order_id: str) -> str:
    """Holds live in the SKU's partition, beside its level in the one stock table, keyed by SKU and order."""
    return f"{sku}/{order_id}"


def is_hold_key(key: str) -> bool:
    """A hold's key in the stock table (a SKU has no ``/``)."""
    return "/" in key


StockOutcome = tuple[StockLevel, Hold | None, Message | None]


def _level_change(level: StockLevel, at: tuple[int, int] | None, counted: bool, on_hand: int = 0,
                  reserved: int = 0) -> StockLevel:
    """The level after a command at ``at``; the level as it is if it ``counted`` that command already."""
    if counted:
        return level
    return level.model_copy(update={"on_hand": level.on_hand + on_hand, "reserved": level.reserved + reserved,
                                    "version": level.version + 1, "applied_at": at})


def _read_before(at: tuple[int, int] | None, last: tuple[int, int] | None) -> bool:
    """A record at ``at`` sits at or before ``last`` in the same partition."""
    return at is not None and last is not None and at[0] == last[0] and at[1] <= last[1]


def apply_stock(level: StockLevel | None, hold: Hold | None, cmd: Message,
                at: tuple[int, int] | None = None) -> StockOutcome:
    """New level, new hold and the answer (if any) for one stock command.

    ``at`` is where the command sits in its topic (partition, offset). The level and the hold are
    written in that order to one changelog partition, so a crash keeps a prefix of the writes: a
    command read again finds both written, neither, or only the level, and only the level only for
    the last command that changed it. So a hold's command counts as applied when its hold moved on,
    or when the level was last changed at ``at`` (then only the hold and the answer are made again).
    Not "at or before": the delivery guard may hand a partition's record on after later ones (one
    dropped unhandled is read again), and a late reserve taken for a repeat would hold units the
    level never reserved. A count read again at or before the level's last change is not applied."""
    current = level or StockLevel(sku=getattr(cmd, "sku"))
    if isinstance(cmd, SetStock):
        counted = _read_before(at, current.applied_at)
        # never fewer on the shelf than promised to open orders; a count read again is not counted again
        if (cmd.only_if_new and level is not None) or cmd.on_hand < current.reserved or counted:
            return current, None, None
        return current.model_copy(update={"on_hand": cmd.on_hand, "version": current.version + 1,
                                          "applied_at": at}), None, None
    assert isinstance(cmd, (ReserveStock, CommitStock, ReleaseStock))
    counted = at is not None and at == current.applied_at
    line = {"order_id": cmd.order_id, "sku": cmd.sku, "quantity": cmd.quantity, "lines_total": cmd.lines_total}
    if isinstance(cmd, ReserveStock):
        if hold is not None:  # asked before: answer as then
            if hold.state is HoldState.REJECTED:
                return current, hold, StockRejected(**line, available=current.available)
            if hold.state is HoldState.RELEASED:
                return current, hold, None
            return current, hold, StockReserved(**line)
        # a counted reserve was a reservation (a rejection changes no level): only its hold was lost
        if not counted and current.available < cmd.quantity:
            return current, Hold(quantity=cmd.quantity, state=HoldState.REJECTED), \
                StockRejected(**line, available=current.available)
        return _level_change(current, at, counted, reserved=cmd.quantity), \
            Hold(quantity=cmd.quantity, state=HoldState.HELD), StockReserved(**line)
    if isinstance(cmd, CommitStock):
        if hold is None or hold.state is not HoldState.HELD:
            return current, hold, None
        return _level_change(current, at, counted, on_hand=-hold.quantity, reserved=-hold.quantity), \
            Hold(quantity=hold.quantity, state=HoldState.COMMITTED), None
    # ReleaseStock: give back what is held; a line never held is marked so a late reserve cannot take it
    released = StockReleased(**line)
    if hold is not None and hold.state is HoldState.HELD:
        return _level_change(current, at, counted, reserved=-hold.quantity), \
            Hold(quantity=hold.quantity, state=HoldState.RELEASED), released
    if hold is not None and hold.state is HoldState.COMMITTED:
        return current, hold, None  # sold: a confirmed order keeps its units
    return current, Hold(quantity=cmd.quantity, state=HoldState.RELEASED), released


class Reservation(BaseModel):
    """The per-SKU answers for one order, gathered until every line has answered."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    lines_total: int
    reserved: frozenset[str] = frozenset()
    rejected: frozenset[str] = frozenset()
    released: frozenset[str] = frozenset()
    decided: bool = False
    release_announced: bool = False

    @property
    def settled(self) -> bool:
        """Nothing more is owed for this order, so its entry can go (state grows with open orders, not
        with history): its release is announced, or its outcome is and no line was released yet (the
        releases of a failed order all come after it and gather afresh). A repeated answer after that
        starts a new entry and at worst announces the outcome again, which every reader ignores."""
        return self.release_announced or (self.decided and not self.released)


def fold_result(res: Reservation | None, result: Message) -> tuple[Reservation, list[Message]]:
    """Add one SKU's answer; announce the order's outcome once all lines have answered."""
    lines_total = getattr(result, "lines_total")
    state = res or Reservation(order_id=result.order_id, lines_total=lines_total)
    sku = getattr(result, "sku")
    out: list[Message] = []
    if isinstance(result, StockReserved):
        state = state.model_copy(update={"reserved": state.reserved | {sku}})
    elif isinstance(result, StockRejected):
        state = state.model_copy(update={"rejected": state.rejected | {sku}})
    elif isinstance(result, StockReleased):
        state = state.model_copy(update={"released": state.released | {sku}})
    if not state.decided and len(state.reserved | state.rejected) >= state.lines_total:
        state = state.model_copy(update={"decided": True})
        if state.rejected:
            out.append(InventoryFailed(order_id=state.order_id, short_skus=tuple(sorted(state.rejected))))
        else:
            out.append(InventoryReserved(order_id=state.order_id))
    if not state.release_announced and len(state.released) >= state.lines_total:
        state = state.model_copy(update={"release_announced": True})
        out.append(InventoryReleased(order_id=state.order_id))
    return state, out
