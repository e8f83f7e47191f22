"""The shared benchmark runner: command line, repeats interleaved, runs summarised, results saved.

A benchmark module declares its flags and a `measure(args)` that starts what it needs (an
IdentityStack, the echo server), drives load (bench.load) and samples CPU through the load
generator's `cpu_probe`; `run_benchmark` does the rest the same way for every benchmark: parse
the flags (`--quick`: tiny settings, a smoke run), pin the generator, record the command with
the values it ran with, save bench/results/NAME.json (or under BENCH_RESULTS) and print a report.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from bench._common import CLIENT_CPUS, pin, save, summary
from bench.load import RunResult, closed_loop

K = TypeVar("K")
R = TypeVar("R")
Data = dict[str, Any]

# What a run is summarised by, each scaled as the results record it.
MEASURES: dict[str, Callable[[RunResult], float]] = {
    "throughput": lambda r: r.throughput,
    "p50_ms": lambda r: r.p(50) * 1e3,
    "p99_ms": lambda r: r.p(99) * 1e3,
    "server_cpu": lambda r: r.server_cpu,
    # CPU the measured server process(es) spent per call, milliseconds (cores ÷ calls per second).
    "cpu_ms_per_call": lambda r: 1e3 * r.server_cpu / r.throughput if r.throughput else 0.0,
}


def arguments(
    doc: str, argv: list[str] | None, quick: Mapping[str, Any], **options: Any
) -> argparse.Namespace:
    """One flag per option (`--name value`, its default the given value, or a (default, help)
    pair; a bool default makes a switch) and `--quick`, which sets the options in `quick`."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for name, given in options.items():
        default, help_text = given if isinstance(given, tuple) else (given, None)
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true", help=help_text)
        else:
            parser.add_argument(flag, type=type(default), default=default, help=help_text)
    smoke = ", ".join(f"{k} {v}" for k, v in quick.items())
    parser.add_argument("--quick", action="store_true", help=f"a smoke run: {smoke}")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in quick.items():
            setattr(args, name, value)
    return args


def command(name: str, args: argparse.Namespace, options: Iterable[str]) -> str:
    """The command line that reproduces the run, with the values it ran with."""
    words = [f"python -m bench.{name}"]
    for option in options:
        value = getattr(args, option)
        flag = "--" + option.replace("_", "-")
        if isinstance(value, bool):
            words += [flag] if value else []
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


def run_benchmark(
    name: str,
    doc: str,
    argv: list[str] | None,
    measure: Callable[[argparse.Namespace], Awaitable[Data] | Data],
    report: Callable[[Data], str],
    quick: Mapping[str, Any],
    cpus: Sequence[int] = CLIENT_CPUS,
    **options: Any,
) -> Data:
    """Parse, pin the load generator to `cpus`, measure, save NAME.json, print the report."""
    args = arguments(doc, argv, quick, **options)
    pin(cpus)
    outcome = measure(args)
    measured: Data = asyncio.run(outcome) if inspect.isawaitable(outcome) else outcome  # type: ignore[arg-type]
    data = {"command": command(name, args, options), **measured}
    save(name, data)
    print(report(data))
    return data


def ints(text: str) -> tuple[int, ...]:
    """`8,32,64` → (8, 32, 64)."""
    return tuple(int(x) for x in text.split(","))


async def interleaved(
    contenders: Mapping[K, Callable[[], Awaitable[R]]],
    repeats: int,
    order: Callable[[int], Iterable[K]],
) -> dict[K, list[R]]:
    """Every contender once per repeat, in `order(repeat)`, so that the ratios taken within a
    repeat compare runs made seconds apart on the same noisy machine."""
    runs: dict[K, list[R]] = {key: [] for key in contenders}
    for repeat in range(repeats):
        for key in order(repeat):
            runs[key].append(await contenders[key]())
    return runs


# A contender: one call of worker i, and the CPU seconds of the process(es) serving it (or None).
Contender = tuple[Callable[[int], Awaitable[Any]], Callable[[], float] | None]


async def closed_loops(
    contenders: Mapping[K, Contender],
    concurrency: int,
    duration: float,
    repeats: int,
    order: Callable[[int], Iterable[K]],
) -> dict[K, list[RunResult]]:
    """Each contender in a closed loop at `concurrency`, its server's CPU sampled over the
    measured window, once per repeat, interleaved in `order`."""
    runs = {
        key: partial(closed_loop, call, concurrency, duration, cpu_probe=cpu)
        for key, (call, cpu) in contenders.items()
    }
    return await interleaved(runs, repeats, order)


def shuffled(rng: random.Random, keys: Iterable[K]) -> Callable[[int], list[K]]:
    """A new random order every repeat (seeded: a rerun repeats it)."""
    listed = list(keys)

    def order(_repeat: int) -> list[K]:
        this = list(listed)
        rng.shuffle(this)
        return this

    return order


def alternating(keys: Sequence[K]) -> Callable[[int], Sequence[K]]:
    """`keys` on even repeats, reversed on odd ones."""
    return lambda repeat: keys if repeat % 2 == 0 else keys[::-1]


def stats(runs: Sequence[RunResult], *measures: str) -> dict[str, dict[str, float]]:
    """Median and min–max over the repeats of each measure (all of MEASURES by default)."""
    return {m: summary([MEASURES[m](r) for r in runs]) for m in measures or MEASURES}


def ratio(
    top: Sequence[RunResult], bottom: Sequence[RunResult], measure: str = "throughput"
) -> dict[str, float]:
    """Median and min–max of top ÷ bottom, repeat by repeat."""
    of = MEASURES[measure]
    return summary([of(a) / of(b) for a, b in zip(top, bottom, strict=True)])


def error_kinds(runs: Iterable[RunResult]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for run in runs:
        for kind, n in (run.error_kinds or {}).items():
            merged[kind] = merged.get(kind, 0) + n
    return merged
