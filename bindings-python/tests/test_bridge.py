"""The asyncio bridge: results, errors, cancellation, loops, teardown, shutdown, fork."""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import uvloop

from tether import RuntimeClosed, RustPanic, TetherError, _tether

# A bound for waits on asynchronous clean-up; only a hang or a bug comes near it.
PATIENCE = 10.0

# The loops the bridge must work on: asyncio's own, and uvloop (uvicorn's choice).
LOOP_FACTORIES = [
    pytest.param(asyncio.new_event_loop, id="asyncio"),
    pytest.param(uvloop.new_event_loop, id="uvloop"),
]


async def until(condition: Callable[[], bool], what: str) -> None:
    """Yields to the loop until `condition()` holds; fails after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.001)


def run(make: Callable[[], Any]) -> Any:
    """asyncio.run of one bridged call (the call needs the running loop, so it is made
    inside the coroutine)."""

    async def main() -> Any:
        return await make()

    return asyncio.run(main())


def complete(loop: asyncio.AbstractEventLoop, make: Callable[[], Any]) -> Any:
    """loop.run_until_complete of one bridged call."""

    async def main() -> Any:
        return await make()

    return loop.run_until_complete(main())


def open_fds() -> int:
    """Number of open file descriptors of this process, after collecting garbage (whose
    finalizers may close some)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def wait_sync(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)


@pytest.mark.asyncio
async def test_noop_resolves_with_none() -> None:
    assert await _tether.noop() is None


@pytest.mark.asyncio
async def test_many_calls_complete_in_bulk() -> None:
    results = await asyncio.gather(*[_tether.sleep(0.001 * (i % 7)) for i in range(2000)])
    assert results == [None] * 2000


@pytest.mark.asyncio
async def test_returns_an_asyncio_future_of_the_running_loop() -> None:
    future = _tether.noop()
    assert isinstance(future, asyncio.Future)
    assert future.get_loop() is asyncio.get_running_loop()
    await future


@pytest.mark.asyncio
async def test_rust_error_becomes_an_exception_instance() -> None:
    with pytest.raises(TetherError, match=r"^boom: no such thing$") as caught:
        await _tether.fail("boom: no such thing")
    assert type(caught.value) is TetherError
    assert caught.value.__traceback__ is not None


def test_exceptions_are_created_on_the_loop_thread() -> None:
    # The loop runs in a thread of its own, so "the loop thread" is neither the main thread
    # nor any tokio thread.
    created_on: list[int] = []

    class Recorded(Exception):
        def __init__(self, message: str) -> None:
            super().__init__(message)
            created_on.append(threading.get_ident())

    loop_thread: list[int] = []
    caught: list[BaseException] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        try:
            await _tether.fail_with(Recorded, "made on the loop")
        except Recorded as error:
            caught.append(error)

    worker = threading.Thread(target=asyncio.run, args=(main(),))
    worker.start()
    worker.join()
    assert [str(e) for e in caught] == ["made on the loop"]
    assert created_on == loop_thread
    assert loop_thread[0] != threading.main_thread().ident


@pytest.mark.asyncio
async def test_exception_raised_while_converting_reaches_the_caller() -> None:
    class Refuses(Exception):
        def __init__(self, message: str) -> None:
            raise ValueError(f"cannot build: {message}")

    with pytest.raises(ValueError, match="cannot build: x"):
        await _tether.fail_with(Refuses, "x")


@pytest.mark.asyncio
async def test_rust_panic_becomes_rust_panic_not_a_hang() -> None:
    with pytest.raises(RustPanic, match="panicked"):
        await asyncio.wait_for(_tether.panic(), PATIENCE)
    # The runtime survives a panicking task.
    assert await _tether.noop() is None


async def cancel_a_running_sleep() -> None:
    """Starts a long Rust sleep, cancels the task awaiting it, and waits for the Rust future to
    be dropped."""
    before = _tether.live_sleeps()
    task = asyncio.ensure_future(_tether.sleep(3600))
    await until(lambda: _tether.live_sleeps() == before + 1, "the Rust future to start")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await until(lambda: _tether.live_sleeps() == before, "the Rust future to be dropped")


@pytest.mark.asyncio
async def test_cancelling_the_task_drops_the_rust_future() -> None:
    await cancel_a_running_sleep()


@pytest.mark.asyncio
async def test_wait_for_timeout_drops_the_rust_future() -> None:
    before = _tether.live_sleeps()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(_tether.sleep(3600), 0.05)
    await until(lambda: _tether.live_sleeps() == before, "the Rust future to be dropped")


@pytest.mark.asyncio
async def test_cancelling_many_drops_them_all() -> None:
    before = _tether.live_sleeps()
    tasks = [asyncio.ensure_future(_tether.sleep(3600)) for _ in range(200)]
    await until(lambda: _tether.live_sleeps() == before + 200, "200 Rust futures")
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    await until(lambda: _tether.live_sleeps() == before, "200 drops")


@pytest.mark.asyncio
async def test_results_for_cancelled_futures_are_dropped_quietly() -> None:
    # Cancel calls whose results are arriving at the same moment: the bridge must skip the
    # cancelled futures without an InvalidStateError anywhere.
    loop = asyncio.get_running_loop()
    loop_errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: loop_errors.append(context))
    unraisable: list[Any] = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        for _ in range(20):
            futures = [_tether.sleep(0) for _ in range(100)]
            await asyncio.sleep(0.0005)
            for future in futures[::2]:
                future.cancel()
            done = await asyncio.gather(*futures, return_exceptions=True)
            for index, outcome in enumerate(done):
                if index % 2:
                    assert outcome is None
                else:
                    # Either cancelled in time, or already resolved before the cancel.
                    assert outcome is None or isinstance(outcome, asyncio.CancelledError)
        await asyncio.sleep(0.01)
    finally:
        sys.unraisablehook = previous_hook
        loop.set_exception_handler(None)
    assert unraisable == []
    assert loop_errors == []


@pytest.mark.parametrize("new_loop", LOOP_FACTORIES)
def test_results_errors_and_cancellation_on_each_loop(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def scenario() -> None:
        assert (
            await asyncio.gather(*[_tether.sleep(0.0001 * (i % 5)) for i in range(500)])
            == [None] * 500
        )
        with pytest.raises(TetherError, match="on this loop"):
            await _tether.fail("on this loop")
        await cancel_a_running_sleep()

    loop = new_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


@pytest.mark.asyncio
async def test_a_cancelled_call_never_reaches_a_later_one() -> None:
    # The cancelled call's future is freed as soon as its cancel callback has run, and the
    # next future made right after (in the same loop iteration) usually gets its address.
    # The notice of the cancelled call's aborted task, arriving later, must not resolve it.
    loop = asyncio.get_running_loop()

    async def one_round(value: int) -> None:
        before = _tether.live_sleeps()
        cancelled = _tether.sleep(3600)
        await until(lambda: _tether.live_sleeps() == before + 1, "the Rust future to start")
        cancelled.cancel()
        del cancelled
        later: list[asyncio.Future[int]] = []
        # Runs after the cancel callback, in the same iteration, before any completion.
        loop.call_soon(lambda: later.append(_tether.echo(value, 0.05)))
        await until(lambda: bool(later), "the later call")
        assert await later[0] == value

    for value in range(50):
        await one_round(value)


@pytest.mark.asyncio
async def test_results_of_cancelled_calls_never_reach_other_calls() -> None:
    # Cancel calls whose results are arriving at the same moment, while making new ones.
    next_value = 0
    for _ in range(300):
        batch: dict[int, asyncio.Future[int]] = {}
        for _ in range(16):
            batch[next_value] = _tether.echo(next_value, 0.0)
            next_value += 1
        await asyncio.sleep(0)  # let some results arrive before the cancellations
        for value in list(batch)[::2]:
            batch.pop(value).cancel()
        results = await asyncio.gather(*batch.values())
        assert results == list(batch)


def test_without_a_running_loop_the_error_is_clear() -> None:
    with pytest.raises(RuntimeError, match="running in an asyncio event loop"):
        _tether.noop()
    errors: list[BaseException] = []

    def in_thread() -> None:
        try:
            _tether.noop()
        except BaseException as error:  # noqa: BLE001 - recorded for the assertion
            errors.append(error)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)


def test_one_bridge_per_loop_and_loops_in_threads() -> None:
    baseline = _tether.live_bridges()
    inside: list[int] = []
    barrier = threading.Barrier(3)

    async def main() -> None:
        await _tether.noop()
        await _tether.noop()
        barrier.wait(PATIENCE)  # all three loops have their bridge now
        inside.append(_tether.live_bridges())
        barrier.wait(PATIENCE)
        await asyncio.gather(*[_tether.sleep(0.001) for _ in range(100)])

    threads = [threading.Thread(target=asyncio.run, args=(main(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert inside == [baseline + 3] * 3
    assert _tether.live_bridges() == baseline


@pytest.mark.parametrize("new_loop", LOOP_FACTORIES)
def test_fifty_loops_leak_no_file_descriptor(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    run(_tether.noop)  # the runtime's own descriptors exist before counting
    baseline_fds = open_fds()
    baseline_bridges = _tether.live_bridges()
    for i in range(50):
        if i % 2:
            run(_tether.noop)
        else:
            loop = new_loop()
            complete(loop, lambda: _tether.sleep(0.001))
            assert _tether.live_bridges() == baseline_bridges + 1
            loop.close()
        assert _tether.live_bridges() == baseline_bridges
    assert open_fds() == baseline_fds


def test_closing_the_loop_removes_the_close_hook() -> None:
    loop = asyncio.new_event_loop()
    complete(loop, _tether.noop)
    assert "close" in vars(loop)
    loop.close()
    assert "close" not in vars(loop)
    assert loop.is_closed()


def test_closing_a_running_loop_is_refused_and_keeps_the_bridge() -> None:
    loop = asyncio.new_event_loop()
    refused: list[BaseException] = []

    async def main() -> None:
        await _tether.noop()
        try:
            loop.close()
        except RuntimeError as error:
            refused.append(error)
        assert await _tether.noop() is None

    baseline = _tether.live_bridges()
    loop.run_until_complete(main())
    assert len(refused) == 1
    assert _tether.live_bridges() == baseline + 1
    loop.close()
    assert _tether.live_bridges() == baseline


@pytest.mark.parametrize("new_loop", LOOP_FACTORIES)
def test_closing_the_loop_aborts_pending_rust_work(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    before = _tether.live_sleeps()
    fds = open_fds()
    loop = new_loop()
    futures: list[asyncio.Future[None]] = []

    async def start() -> None:
        futures.append(_tether.sleep(3600))

    loop.run_until_complete(start())
    wait_sync(lambda: _tether.live_sleeps() == before + 1, "the Rust future to start")
    loop.close()
    wait_sync(lambda: _tether.live_sleeps() == before, "the Rust future to be dropped")
    assert isinstance(futures[0].exception(), RuntimeClosed)
    assert open_fds() == fds


def test_a_collected_loop_tears_its_bridge_down() -> None:
    baseline = _tether.live_bridges()
    fds = open_fds()
    loop = asyncio.new_event_loop()
    complete(loop, _tether.noop)
    # Someone replaced the bridge's close hook: the weak reference to the loop is what is
    # left to notice the loop going away.
    loop.close = lambda: None  # type: ignore[method-assign]
    type(loop).close(loop)  # the loop's own descriptors, closed without the hook
    assert _tether.live_bridges() == baseline + 1
    del loop
    gc.collect()
    assert _tether.live_bridges() == baseline
    assert open_fds() == fds


def test_a_client_works_from_a_second_loop(chaos: Any) -> None:
    probe = _tether.HttpProbe()  # built outside any loop
    url = chaos.url("/json/small")
    first = run(lambda: probe.get(url))
    second = run(lambda: probe.get(url))
    assert first[0] == second[0] == 200
    assert first[1] == second[1]


@pytest.mark.asyncio
async def test_explicit_shutdown_fails_running_calls_and_restarts_lazily() -> None:
    before = _tether.live_sleeps()
    pending = _tether.sleep(3600)
    await until(lambda: _tether.live_sleeps() == before + 1, "the Rust future to start")
    _tether.shutdown()
    assert _tether.runtime_workers() is None
    with pytest.raises(RuntimeClosed):
        await pending
    assert _tether.live_sleeps() == before
    _tether.shutdown()  # idempotent
    assert await _tether.noop() is None
    assert _tether.runtime_workers() is not None


@pytest.mark.asyncio
async def test_configure_worker_threads() -> None:
    await _tether.noop()
    with pytest.raises(RuntimeError, match="already running"):
        _tether.configure(1)
    with pytest.raises(ValueError, match="from 1 to 256"):
        _tether.configure(0)
    _tether.shutdown()
    try:
        _tether.configure(1)
        assert await _tether.noop() is None
        assert _tether.runtime_workers() == 1
    finally:
        _tether.shutdown()
        _tether.configure(None)
    assert await _tether.noop() is None


def test_bad_worker_count_in_the_environment_is_a_clear_error() -> None:
    import subprocess

    code = (
        "import asyncio, tether\n"
        "async def main():\n"
        "    await tether._tether.noop()\n"
        "asyncio.run(main())\n"
    )
    env = dict(os.environ, TETHER_WORKER_THREADS="lots")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "ValueError: TETHER_WORKER_THREADS must be a whole number from 1 to 256" in done.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
# Forking a process with threads (tokio's) is exactly what this test checks.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_a_working_runtime() -> None:
    run(_tether.noop)  # the parent's runtime and a bridge exist
    loop = asyncio.new_event_loop()
    complete(loop, _tether.noop)  # an open loop with a bridge at fork time
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        try:
            ok = _tether.live_bridges() == 0 and run(lambda: _tether.sleep(0.001)) is None
            os._exit(0 if ok else 1)
        except BaseException:  # noqa: BLE001
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's open loop still works after the fork.
    assert complete(loop, _tether.noop) is None
    loop.close()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda: _tether.sleep(-1.0), ValueError),
        (lambda: _tether.sleep(float("nan")), ValueError),
        (lambda: _tether.sleep("1"), TypeError),  # type: ignore[arg-type]
        (lambda: _tether.fail(42), TypeError),  # type: ignore[arg-type]
    ],
)
@pytest.mark.asyncio
async def test_bad_arguments_raise_at_the_call(call: Callable[[], Any], error: type) -> None:
    with pytest.raises(error):
        call()
