"""Run view tasks in parallel: a local process pool, or Ray tasks on a cluster.

Both recycle a worker process after ``recycle_after`` views, because Mitsuba's
memory grows over repeated scene loads. Both yield records as views finish.
"""
from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from data_gen.worker import ViewTask, render_view

RECYCLE_AFTER = 50


def _threads_per_worker(workers: int) -> str:
    return str(max(1, (os.cpu_count() or 1) // workers))


def run_local(tasks: list[ViewTask], workers: int, recycle_after: int = RECYCLE_AFTER) -> Iterator[dict]:
    """Process pool of ``workers`` fresh ('spawn') processes, each setting the Mitsuba variant itself.

    A worker that dies (a crash in the renderer) stops the run with RuntimeError instead of hanging.
    """
    os.environ["NEURENDER_THREADS"] = _threads_per_worker(workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=recycle_after) as pool:
        pending = {pool.submit(render_view, task) for task in tasks[: 2 * workers]}
        queued = iter(tasks[2 * workers:])
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                    task = next(queued, None)
                    if task is not None:
                        pending.add(pool.submit(render_view, task))
        except BrokenProcessPool:
            raise RuntimeError("a render worker process died (crashed in Mitsuba?); "
                               "views finished so far are kept, run again to resume") from None
        finally:
            for future in pending:
                future.cancel()


def run_ray(tasks: list[ViewTask], workers: int, address: str | None = None,
            recycle_after: int = RECYCLE_AFTER) -> Iterator[dict]:
    """The same tasks as Ray tasks: on ``address`` (an existing cluster) or a local one of ``workers`` CPUs."""
    try:
        import ray
    except ImportError:
        from core.errors import InputError
        raise InputError("--executor ray needs Ray: pip install 'neurender[ray]'") from None
    env = {"NEURENDER_THREADS": _threads_per_worker(workers)}
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 runtime_env={"env_vars": env}, log_to_driver=False, configure_logging=False)
    try:
        remote = ray.remote(num_cpus=1, max_calls=recycle_after)(render_view)
        pending = [remote.remote(task) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()
