"""Shared fixtures for tornado_h1alt's own tests."""

from __future__ import annotations

import asyncio
from typing import Iterator

import pytest
from tornado.ioloop import IOLoop


def pytest_configure(config: pytest.Config) -> None:
    # pytest-tornasync runs async tests without a time limit by default; a
    # hung engine should fail its test, not stall the whole run.
    if getattr(config.option, "async_test_timeout", None) is None:
        config.option.async_test_timeout = 30.0


@pytest.fixture
def io_loop() -> Iterator[IOLoop]:
    """A new IOLoop per test (replaces pytest-tornasync's fixture).

    pytest-tornasync calls ``IOLoop.make_current()``, deprecated since
    Tornado 6.2, which the ``filterwarnings = error`` setting turns into a
    failure; this does what Tornado's own ``AsyncTestCase`` does instead.
    """
    loop = IOLoop(make_current=False)
    asyncio.set_event_loop(loop.asyncio_loop)
    yield loop
    # As AsyncTestCase.tearDown: cancel what a test left running, so no
    # "Task was destroyed but it is pending" warning escapes.
    asyncio_loop = loop.asyncio_loop
    pending = [task for task in asyncio.all_tasks(asyncio_loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_sync(lambda: asyncio.wait(pending))
    asyncio.set_event_loop(None)
    loop.close(all_fds=True)
