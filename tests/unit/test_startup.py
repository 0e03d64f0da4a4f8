"""A worker's start-up phases (``config.startup``): where the time from its process start to serving went."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from unittest import mock

import pytest

from config.app import create_app
from config.startup import PHASES, StartupClock, process_age_s


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_phases_run_from_the_process_start_and_each_ends_at_its_first_mark() -> None:
    now = Clock(100.0)
    clock = StartupClock(now=now, age=lambda: 1.5)  # the process started at 98.5
    for at, phase in [(100.0, "start"), (100.75, "join"), (103.0, "restore"), (103.25, "resume")]:
        now.at = at
        clock.mark(phase)
    now.at = 200.0
    clock.mark("join")  # a later rebalance is not the start
    assert clock.done
    assert clock.phases() == {"start": 1.5, "join": 0.75, "restore": 2.25, "resume": 0.25, "total": 4.75}
    assert clock.describe() == ("serving 4.75s after the process started "
                                "(start 1.50s, join 0.75s, restore 2.25s, resume 0.25s)")


def test_a_phase_never_marked_counts_in_the_next_one() -> None:
    now = Clock(10.0)
    clock = StartupClock(now=now, age=lambda: None)  # no /proc: the first mark is the origin
    clock.mark("start")
    now.at = 12.0
    clock.mark("resume")  # nothing restored, and no join seen
    assert clock.phases() == {"start": 0.0, "resume": 2.0, "total": 2.0}
    assert StartupClock().phases() == {}
    with pytest.raises(ValueError, match="one of start, join, restore, resume"):
        clock.mark("warm-up")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux /proc")
def test_the_process_age_is_read_from_proc() -> None:
    code = "import time; time.sleep(0.6); from config.startup import process_age_s; print(process_age_s())"
    age = float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert 0.6 <= age < 30.0
    here = process_age_s()
    assert here is not None and here > 0.0


async def test_the_app_marks_each_phase_and_logs_them_once(caplog: pytest.LogCaptureFixture) -> None:
    app = create_app("payment")
    app.startup = StartupClock(now=time.monotonic, age=lambda: 2.0)
    with mock.patch("faust.App.on_first_start", mock.AsyncMock()), \
            mock.patch("faust.App._on_partitions_assigned", mock.AsyncMock()), \
            mock.patch("faust.App.on_rebalance_end"), \
            mock.patch.object(type(app), "consumer", mock.PropertyMock(return_value=mock.Mock(assignment=set))):
        await app.on_first_start()
        await app._on_partitions_assigned(set())
        await app.on_rebalance_complete.send()  # the tables were restored
        with caplog.at_level(logging.INFO, logger="megatron"):
            app.on_rebalance_end()
            app.on_rebalance_end()  # the next rebalance logs nothing
    assert list(app.startup.phases()) == [*PHASES, "total"]
    assert app.startup.phases()["start"] >= 2.0
    said = [r.getMessage() for r in caplog.records if "after the process started" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("payment serving ")
