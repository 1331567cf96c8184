"""A bounded inference queue: at most `workers` jobs run at once (in threads, off the event
loop), at most `queue_size` more wait; beyond that `submit` refuses at once (HTTP 503).

A waiting job can be cancelled (its client went away): it leaves the queue immediately and
never runs. A running TensorFlow call cannot be interrupted; its slot is freed when it ends.
"""

import collections
import concurrent.futures
import math
import statistics
import threading
import time

# Retry-After is the median of this many recent job times: one slow job (a 40-megapixel
# photo among phone shots) moves a median by one place, where it inflated a moving mean.
RECENT_JOBS = 15


class QueueFull(RuntimeError):
    """Every worker is busy and the queue is full; `retry_after` is a hint in seconds."""

    def __init__(self, retry_after):
        super().__init__(f"the server is busy (queue full); retry in {retry_after} s")
        self.retry_after = retry_after


class InferenceQueue:
    def __init__(self, workers=1, queue_size=8, clock=time.perf_counter):
        """`clock`: seconds, for timing jobs (a test's fake one)."""
        if workers < 1 or queue_size < 0:
            raise ValueError(f"workers must be >= 1 and queue_size >= 0, got {workers} and {queue_size}")
        self.workers = workers
        self.queue_size = queue_size
        self._clock = clock
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="cartoonize")
        self._lock = threading.Lock()
        self._pending = 0  # running + waiting
        self._running = 0
        self._recent_seconds = collections.deque(maxlen=RECENT_JOBS)  # durations, for Retry-After

    def submit(self, fn, *args):
        """-> concurrent.futures.Future of fn(*args); raises QueueFull when no slot is free."""
        with self._lock:
            if self._pending >= self.workers + self.queue_size:
                raise QueueFull(self._retry_after_locked())
            self._pending += 1
        try:
            future = self._executor.submit(self._timed, fn, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)  # also called when a waiting job is cancelled
        return future

    def _timed(self, fn, *args):
        with self._lock:
            self._running += 1
        start = self._clock()
        try:
            return fn(*args)
        finally:
            elapsed = self._clock() - start
            with self._lock:
                self._running -= 1
                self._recent_seconds.append(elapsed)

    def _release(self, _future):
        with self._lock:
            self._pending -= 1

    def _median_locked(self):
        return statistics.median(self._recent_seconds) if self._recent_seconds else None

    def _retry_after_locked(self):
        per_job = self._median_locked() or 1.0
        # The jobs ahead of a newcomer, shared among the workers, once one slot frees up.
        return max(1, math.ceil(per_job * (self._pending - self.workers + 1) / self.workers))

    def stats(self):
        with self._lock:
            median = self._median_locked()
            return {"running": self._running, "waiting": self._pending - self._running,
                    "workers": self.workers, "queue_size": self.queue_size,
                    "median_seconds": None if median is None else round(median, 3)}

    def shutdown(self):
        self._executor.shutdown(wait=True, cancel_futures=True)
