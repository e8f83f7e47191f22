"""Load generators for asyncio calls: closed loop, paced, and a storm beside a paced probe.

`closed_loop` runs `concurrency` workers, each awaiting one call after another, for `duration`
seconds or `max_requests` calls, whichever ends first, after an unmeasured warm-up. Latency is
measured around each await with perf_counter; percentiles are nearest-rank over all calls.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio

from bench._common import percentile


@dataclass
class RunResult:
    calls: int
    errors: int
    elapsed: float
    latencies: list[float]
    server_cpu: float = 0.0  # cores used by the server process(es) during the run
    error_kinds: dict[str, int] | None = None

    @property
    def throughput(self) -> float:
        return self.calls / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_kinds": self.error_kinds or {},
            "elapsed_s": round(self.elapsed, 3),
            "throughput": self.throughput,
            "p50_ms": self.p(50) * 1e3,
            "p99_ms": self.p(99) * 1e3,
            "server_cpu_cores": self.server_cpu,
        }


def _kind(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code().name
    return type(exc).__name__


async def closed_loop(
    make_call: Callable[[int], Awaitable[Any]],
    concurrency: int,
    duration: float,
    max_requests: int = 500_000,
    warmup: float = 0.5,
    cpu_probe: Callable[[], float] | None = None,
) -> RunResult:
    """`make_call(worker_index)` returns the awaitable of one call."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    measuring = False
    stop_at = time.perf_counter() + warmup + duration
    count = 0

    async def worker(index: int) -> None:
        nonlocal count
        while count < max_requests:
            started = time.perf_counter()
            if started >= stop_at:
                return
            try:
                await make_call(index)
            except Exception as exc:  # counted, never fatal: errors are part of the result
                if measuring:
                    kind = _kind(exc)
                    errors[kind] = errors.get(kind, 0) + 1
                continue
            if measuring:
                latencies.append(time.perf_counter() - started)
                count += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup)
    measuring = True
    cpu_before = cpu_probe() if cpu_probe else 0.0
    began = time.perf_counter()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    cpu_after = cpu_probe() if cpu_probe else 0.0
    latencies.sort()
    return RunResult(
        calls=len(latencies),
        errors=sum(errors.values()),
        elapsed=elapsed,
        latencies=latencies,
        server_cpu=(cpu_after - cpu_before) / elapsed if elapsed else 0.0,
        error_kinds=errors,
    )


async def paced(make_call: Callable[[], Awaitable[Any]], rate: float, duration: float) -> RunResult:
    """One call every 1/rate seconds (open loop, one at a time): a latency probe."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    began = time.perf_counter()
    next_at = began
    while True:
        now = time.perf_counter()
        if now - began >= duration:
            break
        if next_at > now:
            await asyncio.sleep(next_at - now)
        next_at += 1.0 / rate
        started = time.perf_counter()
        try:
            await make_call()
        except Exception as exc:
            kind = _kind(exc)
            errors[kind] = errors.get(kind, 0) + 1
            continue
        latencies.append(time.perf_counter() - started)
    elapsed = time.perf_counter() - began
    latencies.sort()
    return RunResult(len(latencies), sum(errors.values()), elapsed, latencies, 0.0, errors)


async def storm_beside_probe(
    storm: Callable[[int], Awaitable[Any]],
    probe: Callable[[], Awaitable[Any]],
    concurrency: int,
    duration: float,
    rate: float,
    cpu_probe: Callable[[], float] | None = None,
) -> tuple[RunResult, RunResult, RunResult]:
    """The probe alone, paced at `rate` for `duration` s; then `storm` in a closed loop with the
    probe paced beside it once the storm's warm-up is over: (probe idle, probe during, storm)."""
    idle = await paced(probe, rate, duration)
    storm_task = asyncio.create_task(closed_loop(storm, concurrency, duration, cpu_probe=cpu_probe))
    await asyncio.sleep(0.5)  # the storm's warm-up
    during = await paced(probe, rate, duration - 0.5)
    return idle, during, await storm_task


def cycling(
    call: Callable[..., Awaitable[Any]], requests: Sequence[Any], md: Any
) -> Callable[..., Awaitable[Any]]:
    """`call` over `requests` in turn, whichever worker asks (round-robin)."""
    turn = itertools.count(1)

    def one(*_worker: int) -> Awaitable[Any]:
        return call(requests[next(turn) % len(requests)], metadata=md)

    return one
