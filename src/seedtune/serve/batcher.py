"""One worker thread owns the model: it gathers concurrent requests into one batched generate call.

Why: HTTP handlers run concurrently, but a model on CPU (or one GPU) is fastest when it runs one
padded batch of many sequences rather than many single sequences fighting over the same cores.
So handlers only enqueue a job and await a future; the worker takes the first job, keeps
collecting for `window_ms` (or until `max_batch` sequences are waiting), and answers all of them
with a single `teacher.generate(requests)`. Under load no waiting is added at all: jobs that
queued up while the previous batch ran are already there and are taken at once. The default
window (25 ms) is small next to any generation yet long enough for clients that were answered
together to send their next request in time on a busy 2-core machine (bench/serve.py: 10 ms gave
about 4 sequences per call with 8 clients, 50 ms gave 8).

Streaming jobs are not batched (the teacher streams one sequence at a time); the worker runs them
in turn between batches, pushing text pieces to the handler as they are generated. Running every
model call on this one thread also means no two generate calls ever compete for the cores.

Limits: the queue holds at most `max_queue` sequences (waiting or running); past that `submit`
raises `QueueFull` at once, so an overloaded server answers "busy" instead of letting waits grow
without bound. A job can be cancelled (its client left or its time ran out): a queued job is
dropped before it reaches the model, and a running one stops at the next model call, since the
worker generates at most `max_batch` sequences per call.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from seedtune.teachers.base import Completion, Request, Teacher


class QueueFull(Exception):
    """The server already holds `max_queue` sequences: the client should retry later."""


class JobCancelled(Exception):
    """Set on a running job's future when it was cancelled before it finished."""


def rows_of(requests: Sequence[Request]) -> int:
    """Sequences the model generates for `requests` (each asks for n samples)."""
    return sum(max(1, r.n) for r in requests)


@dataclass(eq=False)  # jobs are told apart by identity (and used as dict keys)
class BatchJob:
    requests: list[Request]
    future: Future = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        return rows_of(self.requests)

    def cancel(self) -> None:
        """Nobody waits for this answer any more: drop it if queued, stop it if running."""
        self.cancelled.set()
        self.future.cancel()


# Events a stream job reports, in order, per sequence: ("piece", index, text) ... ("end", index, text
# so far); then ("done", -1, None) once, or ("error", -1, exception) instead.
Event = tuple[str, int, Any]


@dataclass
class StreamJob:
    """Sequences to stream one after another; `emit` is called on the worker thread."""

    requests: list[Request]
    emit: Callable[[Event], None]
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        return len(self.requests)

    def cancel(self) -> None:
        self.cancelled.set()


@dataclass
class BatchStats:
    """What batching achieved: generate calls made and how many sequences each one carried."""

    batches: int = 0
    requests: int = 0
    rows: int = 0
    streams: int = 0
    cancelled: int = 0  # jobs dropped or stopped because their client left or their time ran out
    refused: int = 0  # submissions refused because the queue was full
    sizes: Counter = field(default_factory=Counter)  # sequences per batch -> how many batches

    def to_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "requests": self.requests, "rows": self.rows, "streams": self.streams,
                "cancelled": self.cancelled, "refused": self.refused,
                "max_batch_rows": max(self.sizes, default=0),
                "mean_batch_rows": round(self.rows / self.batches, 3) if self.batches else 0.0,
                "sizes": {str(k): v for k, v in sorted(self.sizes.items())}}


class Batcher:
    """The worker thread and its queue. Start lazily on the first job; `close()` ends it."""

    def __init__(self, teacher: Teacher, max_batch: int = 8, window_ms: float = 25.0, max_queue: int | None = None):
        self.teacher = teacher
        self.max_batch = max(1, int(max_batch))
        self.window = max(0.0, float(window_ms)) / 1000.0
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._queue: queue.Queue[BatchJob | StreamJob | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0  # sequences queued or being generated

    # -- handler side ----------------------------------------------------------------------------

    def submit(self, requests: Sequence[Request]) -> Future:
        """Queue requests to be answered together with whatever else arrives; a future of completions."""
        return self.submit_job(requests).future

    def submit_job(self, requests: Sequence[Request]) -> BatchJob:
        """Like `submit`, but the job itself, so the caller can cancel it; raises `QueueFull`."""
        job = BatchJob(list(requests))
        self._put(job)
        return job

    def submit_stream(self, requests: Sequence[Request], emit: Callable[[Event], None]) -> StreamJob:
        job = StreamJob(list(requests), emit)
        self._put(job)
        return job

    @property
    def pending(self) -> int:
        return self._pending

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _put(self, job: BatchJob | StreamJob) -> None:
        with self._lock:
            if self.max_queue is not None and self._pending + job.rows > self.max_queue:
                self.stats.refused += 1
                raise QueueFull(f"the server is busy: {self._pending} sequences are waiting or running "
                                f"(limit {self.max_queue}); retry shortly")
            self._pending += job.rows
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="seedtune-serve-batcher", daemon=True)
                self._thread.start()
        self._queue.put(job)

    # -- worker side -----------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if isinstance(job, StreamJob):
                self._stream(job)
                continue
            jobs, later = self._gather(job)
            self._run_jobs(jobs)
            for deferred in later:
                if deferred is None:
                    return
                self._stream(deferred)

    def _done(self, rows: int) -> None:
        with self._lock:
            self._pending -= rows

    def _run_jobs(self, jobs: list[BatchJob]) -> None:
        """Answer the jobs still wanted; a job cancelled while queued never reaches the model."""
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        self.stats.cancelled += len(jobs) - len(live)
        try:
            if live:
                self._answer(live)
        finally:
            self._done(sum(job.rows for job in jobs))

    def _gather(self, first: BatchJob) -> tuple[list[BatchJob], list[StreamJob | None]]:
        """Collect batch jobs for up to `window` seconds after the first, up to `max_batch` sequences."""
        jobs, later = [first], []
        rows = first.rows
        deadline = time.monotonic() + self.window
        while rows < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(job, BatchJob):
                jobs.append(job)
                rows += job.rows
            else:  # a stream or the shutdown signal: handled right after this batch, in order
                later.append(job)
                if job is None:
                    break
        return jobs, later

    def _answer(self, jobs: list[BatchJob]) -> None:
        try:
            answers = self._generate(jobs)
        except Exception as exc:
            if len(jobs) == 1:
                jobs[0].future.set_exception(exc)
                return
            # One bad request must not fail the strangers it was batched with: answer each job on
            # its own, so only the culprit gets the error. The worker lives on either way.
            for job in jobs:
                self._answer([job])
            return
        for job in jobs:
            if job in answers:
                job.future.set_result(answers[job])
            else:
                self.stats.cancelled += 1
                job.future.set_exception(JobCancelled("cancelled"))

    def _generate(self, jobs: list[BatchJob]) -> dict[BatchJob, list[Completion]]:
        """Completions per job, in model calls of at most `max_batch` sequences; before each call
        the requests of jobs cancelled meanwhile are left out (a job that is left out is absent)."""
        pairs = [(job, request) for job in jobs for request in job.requests]
        answers: dict[BatchJob, list[Completion]] = {job: [] for job in jobs}
        start = 0
        while start < len(pairs):
            end, rows = start, 0
            while end < len(pairs) and (end == start or rows + max(1, pairs[end][1].n) <= self.max_batch):
                rows += max(1, pairs[end][1].n)
                end += 1
            chunk = [(job, r) for job, r in pairs[start:end] if not job.cancelled.is_set()]
            start = end
            if not chunk:
                continue
            completions = self.teacher.generate([r for _, r in chunk])
            self.stats.batches += 1
            self.stats.requests += len(chunk)
            self.stats.rows += rows_of([r for _, r in chunk])
            self.stats.sizes[rows_of([r for _, r in chunk])] += 1
            for (job, _), completion in zip(chunk, completions):
                answers[job].append(completion)
        return {job: done for job, done in answers.items()
                if not job.cancelled.is_set() and len(done) == len(job.requests)}

    def _stream(self, job: StreamJob) -> None:
        self.stats.streams += 1
        try:
            self._stream_pieces(job)
        finally:
            self._done(job.rows)

    def _stream_pieces(self, job: StreamJob) -> None:
        try:
            for index, request in enumerate(job.requests):
                if job.cancelled.is_set():
                    self.stats.cancelled += 1
                    return
                produced = ""
                for piece in self._pieces(request):
                    if job.cancelled.is_set():
                        self.stats.cancelled += 1
                        return
                    produced += piece
                    job.emit(("piece", index, piece))
                job.emit(("end", index, produced))
            job.emit(("done", -1, None))
        except BaseException as exc:
            job.emit(("error", -1, exc))

    def _pieces(self, request: Request) -> Iterator[str]:
        """The teacher's own streaming when it has one; else the whole answer as one piece."""
        stream = getattr(self.teacher, "stream", None)
        if stream is not None:
            yield from stream(request)
        else:
            yield self.teacher.generate([dataclasses.replace(request, n=1)])[0].text


def sample_requests(request: Request) -> list[Request]:
    """A request with n > 1 as n single-sample requests for streaming, each with its own seed.

    The streamed sample i of a seeded request uses seed + i, so samples differ but repeat exactly
    when the request is sent again (the batched path derives per-sample seeds inside the teacher).
    """
    n = max(1, request.n)
    return [dataclasses.replace(request, n=1, seed=None if request.seed is None else request.seed + i)
            for i in range(n)]
