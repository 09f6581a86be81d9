"""Release many workers at the same instant, in threads or in processes, as a backfill does.

A get-or-create that is only tried one run at a time hides its race: test it with workers held at a barrier
and released together, against an emulator with latency (``FaultConfig(latency_seconds=...)``) so that the
window between the look-up and the create is wide.

>>> def first_run(i):
...     return i * 10
>>> run_together(first_run, 4)
[0, 10, 20, 30]
"""

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


def run_together(target: Callable[[int], R], workers: int, *, processes: bool = False,
                 timeout_seconds: float = 120.0) -> list[R]:
    """Run ``target(i)`` for ``i`` in ``range(workers)``, all released at one barrier; return the results in
    order. The first worker's exception is raised after all finished.

    With ``processes=True`` each worker is a separate (spawned) process, as Dagster's multiprocess executor and
    run workers are: ``target`` must then be a module-level function (picklable).

    Threads that each ``dg.materialize`` should share a ``dg.DagsterInstance.local_temp(dir)`` instance: runs in
    threads on a ``dg.instance_for_test()`` instance can deadlock (each run re-applies the logging config).
    """
    if processes:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager:
            barrier = manager.Barrier(workers, timeout=timeout_seconds)
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                futures = [pool.submit(_released, barrier, target, i) for i in range(workers)]
                return [f.result(timeout=timeout_seconds) for f in futures]
    barrier_t = threading.Barrier(workers, timeout=timeout_seconds)
    results: list[Any] = [None] * workers
    errors: list[BaseException | None] = [None] * workers

    def run(i: int) -> None:
        try:
            results[i] = _released(barrier_t, target, i)
        except BaseException as exc:  # re-raised in the caller
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"run-together-{i}") for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_seconds)
    first_error = next((e for e in errors if e is not None), None)
    if first_error is not None:
        raise first_error
    return results


def _released(barrier: Any, target: Callable[[int], R], i: int) -> R:
    barrier.wait()
    return target(i)
