"""HeadTimer: one lazily re-armed IOLoop timer per connection (fake clock, no sockets)."""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Tuple

from tornado_h1alt.streamio import HeadTimer


class FakeLoop:
    """Just enough of IOLoop: time(), call_at(), remove_timeout()."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: List[Tuple[float, Callable[[], None]]] = []
        self.scheduled = 0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        entry = (when, callback)
        self.timers.append(entry)
        self.scheduled += 1
        return entry

    def remove_timeout(self, handle: Any) -> None:
        self.timers.remove(handle)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while True:
            due = [t for t in self.timers if t[0] <= self.now]
            if not due:
                return
            for entry in due:
                self.timers.remove(entry)
                entry[1]()


def make() -> Tuple[FakeLoop, HeadTimer, List[str]]:
    loop = FakeLoop()
    fired: List[str] = []
    return loop, HeadTimer(loop), fired


def test_fires_at_the_deadline() -> None:
    loop, timer, fired = make()
    timer.arm(10, lambda: fired.append("timeout"))
    loop.advance(9.9)
    assert fired == []
    loop.advance(0.2)
    assert fired == ["timeout"]


def test_disarm_prevents_the_callback() -> None:
    loop, timer, fired = make()
    timer.arm(10, lambda: fired.append("timeout"))
    timer.disarm()
    loop.advance(20)
    assert fired == []


def test_rearming_moves_the_deadline_without_a_timer_per_request() -> None:
    loop, timer, fired = make()
    # 1,000 requests, 1 s apart, each re-arming the 10 s head timeout.
    for _ in range(1000):
        timer.arm(10, lambda: fired.append("timeout"))
        loop.advance(1)
        timer.disarm()
    assert fired == []
    # About one IOLoop timer per timeout period of traffic, not one per request.
    assert loop.scheduled <= 1000 // 8
    timer.arm(10, lambda: fired.append("timeout"))
    loop.advance(10.5)
    assert fired == ["timeout"]


def test_a_shorter_timeout_reschedules_earlier() -> None:
    loop, timer, fired = make()
    timer.arm(100, lambda: fired.append("long"))
    timer.disarm()
    timer.arm(1, lambda: fired.append("short"))
    loop.advance(1.5)
    assert fired == ["short"]


def test_cancel_removes_the_pending_timer() -> None:
    loop, timer, fired = make()
    timer.arm(10, lambda: fired.append("timeout"))
    timer.cancel()
    assert loop.timers == []
    loop.advance(20)
    assert fired == []


def test_latest_callback_wins() -> None:
    loop, timer, fired = make()
    callback: Optional[Callable[[], None]] = None
    for name in ("first", "second"):
        callback = (lambda n: lambda: fired.append(n))(name)
        timer.arm(5, callback)
    loop.advance(6)
    assert fired == ["second"]
