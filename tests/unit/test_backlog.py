"""The sweeps' condition: a restarted worker has read what its partitions held when assigned."""

from __future__ import annotations

from config.backlog import Backlog


def test_caught_up_once_every_partition_is_done_to_its_end_at_assignment() -> None:
    backlog = Backlog()
    backlog.assigned({"a": 3, "b": 0, "c": 2})  # "b" held nothing: nothing owed there
    assert not backlog.caught_up(lambda tp: None)
    assert not backlog.caught_up({"a": 2, "c": 2}.get), "offset 2 of 'a' is still unread"
    assert backlog.caught_up({"a": 3, "c": 2}.get)


def test_a_partition_once_done_stays_done() -> None:
    """Handled up to its end once: later it owes nothing, whatever is asked of it then."""
    backlog = Backlog()
    backlog.assigned({"a": 5, "b": 7})
    assert not backlog.caught_up({"a": 5, "b": 6}.get)
    assert backlog.caught_up({"b": 7}.get), "'a' was done at the first look"


def test_a_new_assignment_replaces_what_was_owed() -> None:
    backlog = Backlog()
    backlog.assigned({"a": 5})
    backlog.assigned({"b": 1})
    assert backlog.caught_up({"b": 1}.get), "'a' was revoked with the old assignment"


def test_not_caught_up_while_the_ends_are_asked_and_an_older_answer_is_dropped() -> None:
    backlog = Backlog()
    first = backlog.reassigning()
    assert not backlog.caught_up(lambda tp: None), "the ends of the new assignment are not known yet"
    second = backlog.reassigning()  # rebalanced again before the first answer came
    backlog.assigned({"a": 9}, first)
    assert not backlog.caught_up(lambda tp: None)
    backlog.assigned({"a": 1}, second)
    assert backlog.caught_up({"a": 1}.get)


def test_a_record_is_in_the_backlog_below_the_end_at_assignment_or_while_the_ends_are_asked() -> None:
    backlog = Backlog()
    backlog.reassigning()
    assert backlog.holds("a", 10_000), "the ends are not known yet: any record may be a replay"
    backlog.assigned({"a": 5, "b": 0})
    assert backlog.holds("a", 4) and not backlog.holds("a", 5)
    assert not backlog.holds("b", 0) and not backlog.holds("c", 0), "nothing was there when assigned"
    assert backlog.caught_up({"a": 5}.get)
    assert not backlog.holds("a", 4), "done: later records are live traffic"
