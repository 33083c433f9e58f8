"""Run view tasks in parallel under a watchdog: a local process pool, or Ray tasks on a cluster.

Both recycle a worker process after ``recycle_after`` views, because Mitsuba's memory grows
over repeated scene loads, and yield records as views finish. A view that takes longer than
the view timeout, or whose worker dies, is retried once in a fresh process; a second failure
stops the run with ViewFailed naming the scene and the view.
"""
from __future__ import annotations

import collections
import importlib.util
import multiprocessing
import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from multiprocessing.connection import wait

from data_gen.worker import ViewTask, render_view
from neurender.base.errors import InputError
from neurender.base.variant import MIN_THREADS

RECYCLE_AFTER = 50
FIRST_VIEWS_TIMEOUT = 600.0  # s a view may take before any has finished (scene loading, kernel compilation)
MIN_VIEW_TIMEOUT = 120.0     # s, the least default timeout once views have finished
TIMEOUT_FACTOR = 20          # default timeout: this many times the slowest finished view
ATTEMPTS = 2                 # a view is tried at most this often
HANG_HOOK = "NEURENDER_TEST_HANG"  # test hook: "SCENE_ID/VIEW" makes that view hang (only tests set it)


class ViewFailed(RuntimeError):
    """A view hung or killed its worker twice, or raised an error; the message names scene and view."""


class ViewTimeout:
    """Seconds a view may take: ``fixed`` (--view-timeout), else 600 s until a view has finished,
    then max(120 s, 20 x the slowest finished view)."""

    def __init__(self, fixed: float | None = None):
        self.fixed = fixed
        self.slowest: float | None = None

    def finished(self, seconds: float) -> None:
        """Record a finished view that took ``seconds`` from dispatch to result."""
        self.slowest = max(self.slowest or 0.0, seconds)

    @property
    def seconds(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.slowest is None:
            return FIRST_VIEWS_TIMEOUT
        return max(MIN_VIEW_TIMEOUT, TIMEOUT_FACTOR * self.slowest)


def _name(task: ViewTask) -> str:
    return f"scene {task.ref.scene_id}, view {task.view}"


def _count_failure(task: ViewTask, failures: dict, reason: str) -> None:
    """Note that ``task`` hung or lost its worker; raise ViewFailed if that happened before."""
    key = (task.ref.scene_id, task.view)
    failures[key] = failures.get(key, 0) + 1
    if failures[key] >= ATTEMPTS:
        raise ViewFailed(f"{_name(task)} failed twice, the second time in a new worker: {reason}; "
                         "views finished so far are kept, run again to resume")
    print(f"warning: {_name(task)}: {reason}; retrying it in a new worker", file=sys.stderr, flush=True)


def _render(task: ViewTask) -> dict:
    """render_view in a worker process, plus the worker's peak resident memory so far (MB)."""
    if os.environ.get(HANG_HOOK) == f"{task.ref.scene_id}/{task.view}":
        time.sleep(1e9)  # the test hook: hang as a deadlocked renderer would
    record = render_view(task)
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return record


def _threads_per_worker(workers: int) -> str:
    """Dr.Jit threads of each worker: its share of the cores, but at least MIN_THREADS (see neurender.base.variant)."""
    return str(max(MIN_THREADS, (os.cpu_count() or 1) // workers))


def _serve(conn) -> None:
    """A worker process: render each task received on ``conn``; send back ("done", record) or ("error", ...)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which stops its workers
    try:
        while (task := conn.recv()) is not None:
            try:
                reply = ("done", _render(task))
            except InputError as exc:
                reply = ("error", exc)
            except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
                reply = ("error", f"{type(exc).__name__}: {exc}")
            conn.send(reply)
    except (EOFError, BrokenPipeError):  # the parent is gone
        pass


class _Worker:
    """One render process, given one task at a time through a pipe."""

    def __init__(self, context):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        child.close()
        self.task: ViewTask | None = None
        self.started = 0.0  # time.monotonic() when the task was sent
        self.views = 0

    def give(self, task: ViewTask) -> None:
        self.conn.send(task)
        self.task, self.started = task, time.monotonic()

    def stop(self) -> None:
        """Ask an idle worker to exit; kill it if it does not within 10 s (or is busy)."""
        if self.task is None:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _poll(worker: _Worker, timeout: ViewTimeout) -> tuple[str, object] | None:
    """What became of the worker's task: ("done", record), ("error", ...), ("failed", reason) or None (running)."""
    if worker.conn.poll():
        try:
            return worker.conn.recv()
        except EOFError:
            pass
    if not worker.process.is_alive():
        worker.process.join()
        return "failed", f"its worker process died (exit code {worker.process.exitcode})"
    if time.monotonic() - worker.started > timeout.seconds:
        return "failed", f"not finished after {timeout.seconds:.0f} s (--view-timeout), worker killed"
    return None


def run_local(tasks: list[ViewTask], workers: int, recycle_after: int = RECYCLE_AFTER,
              view_timeout: float | None = None) -> Iterator[dict]:
    """Up to ``workers`` fresh ('spawn') processes, each setting the Mitsuba variant itself, under the watchdog."""
    os.environ["NEURENDER_THREADS"] = _threads_per_worker(workers)
    context = multiprocessing.get_context("spawn")
    queue, timeout, failures = collections.deque(tasks), ViewTimeout(view_timeout), {}
    pool = [_Worker(context) for _ in range(min(workers, len(tasks)))]
    try:
        while queue or any(w.task is not None for w in pool):
            for worker in pool:
                if worker.task is None and queue:
                    worker.give(queue.popleft())
            busy = [w for w in pool if w.task is not None]
            first_deadline = min(w.started for w in busy) + timeout.seconds
            wait([w.conn for w in busy] + [w.process.sentinel for w in busy],
                 timeout=max(0.0, first_deadline - time.monotonic()) + 0.01)
            for index, worker in enumerate(list(pool)):
                outcome = None if worker.task is None else _poll(worker, timeout)
                if outcome is None:
                    continue
                task, (kind, value) = worker.task, outcome
                if kind == "error":
                    if isinstance(value, InputError):
                        raise InputError(f"{_name(task)}: {value}")
                    raise ViewFailed(f"{_name(task)} failed in its worker: {value}")
                if kind == "failed":
                    worker.stop()
                    pool[index] = _Worker(context)
                    _count_failure(task, failures, value)
                    queue.appendleft(task)
                    continue
                timeout.finished(time.monotonic() - worker.started)
                worker.task, worker.views = None, worker.views + 1
                if worker.views >= recycle_after:
                    worker.stop()
                    pool[index] = _Worker(context)
                yield value
    finally:
        for worker in pool:
            worker.stop()


def require_ray() -> None:
    """InputError unless Ray can be imported (checked before a dataset folder is made)."""
    if importlib.util.find_spec("ray") is None:
        raise InputError("--executor ray needs Ray: pip install 'neurender[ray]'")


def run_ray(tasks: list[ViewTask], workers: int, address: str | None = None,
            recycle_after: int = RECYCLE_AFTER, view_timeout: float | None = None) -> Iterator[dict]:
    """The same tasks as Ray tasks, at most ``workers`` at a time, under the same watchdog:
    on ``address`` (an existing cluster) or on a new local one of ``workers`` CPUs."""
    require_ray()
    import ray  # an optional dependency: only this executor needs it

    env = {"NEURENDER_THREADS": _threads_per_worker(workers)}
    started_here = not ray.is_initialized()
    if started_here:  # "local": a new cluster, never one some other run left behind
        ray.init(address=address or "local", num_cpus=None if address else workers, include_dashboard=False,
                 runtime_env={"env_vars": env}, log_to_driver=False, configure_logging=False)
    remote = ray.remote(num_cpus=1, max_calls=recycle_after, max_retries=0)(_render)
    queue, timeout, failures = collections.deque(tasks), ViewTimeout(view_timeout), {}
    running = {}  # object ref -> (task, time.monotonic() when submitted)
    try:
        while queue or running:
            while queue and len(running) < workers:
                task = queue.popleft()
                running[remote.remote(task)] = (task, time.monotonic())
            first_deadline = min(started for _, started in running.values()) + timeout.seconds
            done, _ = ray.wait(list(running), num_returns=1,
                               timeout=max(0.0, first_deadline - time.monotonic()) + 0.01)
            for ref in done:
                task, started = running.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:  # raised by our code in the task
                    if isinstance(exc.cause, InputError):
                        raise InputError(f"{_name(task)}: {exc.cause}") from None
                    raise ViewFailed(f"{_name(task)} failed in its worker: {exc.cause!r}") from None
                except ray.exceptions.RayError as exc:  # the worker died (crash, out of memory)
                    _count_failure(task, failures, f"its Ray worker died ({type(exc).__name__})")
                    queue.appendleft(task)
                    continue
                timeout.finished(time.monotonic() - started)
                yield record
            for ref, (task, started) in list(running.items()):
                if time.monotonic() - started > timeout.seconds:
                    ray.cancel(ref, force=True)  # kills the worker process
                    del running[ref]
                    _count_failure(task, failures,
                                   f"not finished after {timeout.seconds:.0f} s (--view-timeout), Ray worker killed")
                    queue.appendleft(task)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
