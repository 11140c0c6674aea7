"""Dynamic batching: requests from many coroutines -> one model run on one torch thread.

::

    submit(job) -> [admitted, bounded] -> collector (max_batch / max_wait) -> worker thread
                                                                        prepare each (decode)
                                                                        cat -> run -> top-k

Admission is synchronous: :meth:`Batcher.submit` raises
:class:`~splitinfer.errors.Overloaded` at once when ``max_queue`` requests are already
waiting, so a full server answers in microseconds instead of queueing forever. Exactly one
worker thread touches torch; the event loop never blocks on a model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch

from splitinfer.cloud.metrics import Metrics
from splitinfer.errors import BadInput, Overloaded


@dataclass(frozen=True)
class Outcome:
    """What the worker reports for one job."""

    class_ids: tuple[int, ...]
    scores: tuple[float, ...]
    started: float  # perf_counter() when the job's batch started on the worker
    decode_ms: float
    compute_ms: float
    batch_size: int


@dataclass
class Job:
    """One request: ``prepare`` turns it into a model input with batch dim 1 (on the
    worker), ``run`` is the batched model; jobs with equal ``key`` share a run."""

    key: Hashable
    prepare: Callable[[], torch.Tensor]
    run: Callable[[torch.Tensor], torch.Tensor]
    k: int
    enqueued: float = field(default_factory=time.perf_counter)
    future: asyncio.Future[Outcome] | None = None


def _init_worker(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def _ms(start: float, end: float) -> float:
    return (end - start) * 1000.0


class Batcher:
    """Collects jobs into batches of up to ``max_batch``, waiting at most ``max_wait_ms``
    after the first one, and runs them on a single worker thread.

    The default ``max_wait_ms=0`` is *greedy*: a batch is whatever queued up while the
    previous one ran, so a lone request never waits and a busy server still batches (on
    benchmarks/server_bench.py it beat a 2 ms wait at 1, 8 and 32 clients).
    ``max_batch=1`` turns batching off. Bind it to one event loop: the collector task
    starts on the first :meth:`submit`.
    """

    def __init__(
        self,
        *,
        max_batch: int = 16,
        max_wait_ms: float = 0.0,
        max_queue: int = 256,
        torch_threads: int | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise BadInput("need max_batch >= 1, max_queue >= 1 and max_wait_ms >= 0")
        if torch_threads is not None and torch_threads < 1:
            raise BadInput(f"torch_threads must be >= 1, got {torch_threads}")
        self.max_batch, self.max_queue = max_batch, max_queue
        self.max_wait_s = max_wait_ms / 1000.0
        self.metrics = metrics or Metrics()
        self._threads = torch_threads
        self._pending = 0  # admitted, not yet handed to the worker
        self._queue: asyncio.Queue[Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._running: list[Job] = []  # the batch on the worker right now
        self._closed = False

    @property
    def pending(self) -> int:
        """Jobs admitted but not yet on the worker."""
        return self._pending

    def submit(self, job: Job) -> asyncio.Future[Outcome]:
        """Admit ``job`` (or raise Overloaded) and return the future of its outcome."""
        if self._closed:
            raise Overloaded("the server is shutting down; retry on another replica")
        if self._pending >= self.max_queue:
            raise Overloaded(
                f"queue full: {self._pending} requests waiting (max_queue={self.max_queue}); "
                "retry with backoff"
            )
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._executor = ThreadPoolExecutor(
                1, "splitinfer-torch", initializer=_init_worker, initargs=(self._threads,)
            )
            self._task = loop.create_task(self._collect(), name="splitinfer-batcher")
        job.future = loop.create_future()
        self._pending += 1
        self.metrics.queue_depth.set(self._pending)
        self._queue.put_nowait(job)
        return job.future

    async def _next_batch(self) -> list[Job]:
        batch = [await self._queue.get()]
        deadline = time.perf_counter() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        return batch

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            self._pending -= len(batch)
            self.metrics.queue_depth.set(self._pending)
            self._running = batch
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, batch)
            except Exception as err:  # the worker never raises; keep serving if it does
                outcomes = [err] * len(batch)
            self._running = []
            for job, out in zip(batch, outcomes, strict=True):
                if job.future is None or job.future.done():
                    continue  # the caller went away
                if isinstance(out, Outcome):
                    job.future.set_result(out)
                else:
                    job.future.set_exception(out)

    def _run(self, jobs: list[Job]) -> list[Outcome | Exception]:
        """Worker thread: prepare every job, then one model run per key."""
        started = time.perf_counter()
        out: list[Outcome | Exception] = [BadInput("not run")] * len(jobs)
        groups: dict[Hashable, list[tuple[int, torch.Tensor, float]]] = {}
        with torch.inference_mode():
            for i, job in enumerate(jobs):
                t0 = time.perf_counter()
                try:
                    x = job.prepare()
                except Exception as err:  # typed errors become the caller's response
                    out[i] = err
                    continue
                groups.setdefault(job.key, []).append((i, x, _ms(t0, time.perf_counter())))
            for members in groups.values():
                self._run_group(jobs, members, started, out)
        return out

    def _run_group(
        self,
        jobs: list[Job],
        members: list[tuple[int, torch.Tensor, float]],
        started: float,
        out: list[Outcome | Exception],
    ) -> None:
        first = jobs[members[0][0]]
        k = max(jobs[i].k for i, _, _ in members)
        t0 = time.perf_counter()
        try:
            logits = first.run(torch.cat([x for _, x, _ in members]))
            top = torch.softmax(logits.float(), dim=1).topk(k, dim=1)
        except Exception as err:
            for i, _, _ in members:
                out[i] = err
            return
        compute_ms = _ms(t0, time.perf_counter())
        self.metrics.batch_size.observe(len(members))
        ids, scores = top.indices.tolist(), top.values.tolist()
        finite = torch.isfinite(logits).all(dim=1).tolist()
        for row, (i, _, decode_ms) in enumerate(members):
            if not finite[row]:  # e.g. extreme feature values: fail this request alone
                out[i] = BadInput("the model's output for this input is not finite (NaN/Inf)")
                continue
            kk = jobs[i].k
            out[i] = Outcome(
                class_ids=tuple(ids[row][:kk]),
                scores=tuple(scores[row][:kk]),
                started=started,
                decode_ms=decode_ms,
                compute_ms=compute_ms,
                batch_size=len(members),
            )

    async def close(self) -> None:
        """Stop collecting, fail whatever still waits, and stop the worker thread."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        left = list(self._running)
        while not self._queue.empty():
            left.append(self._queue.get_nowait())
        for job in left:
            if job.future is not None and not job.future.done():
                job.future.set_exception(Overloaded("the server shut down before this ran"))
        self._running = []
        self._pending = 0
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)
