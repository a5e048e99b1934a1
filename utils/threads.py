"""How many CPU threads torch (and numpy's BLAS) may use: `--threads N`, or `auto`.

`auto` is 1 thread. The work here is many small operations (a small CNN on one batch of
spectrograms, one gradient per recording): measured on 2 and 16 cores (benchmarks/
bench_load.py and the figures in README), one thread is as fast as two when the machine is
idle, and with other processes busy, more threads than free cores make every parallel
region wait for its slowest thread, which is how `make demo` took 666 s instead of 57 s.
One thread never oversubscribes. `SINETONE_THREADS` sets the default for a whole session,
and the value is exported to subprocesses (the demo's steps inherit it).

`apply_threads` must run before torch is imported for the OpenMP pool to be sized once;
it also sets torch's count when torch is already loaded.
"""
from __future__ import annotations

import os
import sys

THREADS_ENV = "SINETONE_THREADS"
AUTO = "auto"
AUTO_THREADS = 1
_POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_threads(value: str | int | None) -> int | str:
    """`auto`, or a positive whole number: the value of `--threads` (argparse type)."""
    if value is None or str(value).strip().lower() == AUTO:
        return AUTO
    try:
        n = int(str(value).strip())
    except ValueError:
        raise ValueError(f"--threads must be a positive whole number or '{AUTO}', got {value!r}") from None
    if n < 1:
        raise ValueError(f"--threads must be at least 1, got {n}")
    return n


def default_threads() -> int | str:
    """`$SINETONE_THREADS` when set, else `auto`."""
    return parse_threads(os.environ.get(THREADS_ENV)) if os.environ.get(THREADS_ENV) else AUTO


def resolve_threads(value: str | int | None = None) -> int:
    """The thread count `--threads value` means (None: the default): a number as given, `auto` = AUTO_THREADS."""
    chosen = parse_threads(value) if value is not None else default_threads()
    return AUTO_THREADS if chosen == AUTO else int(chosen)


def apply_threads(value: str | int | None = None) -> int:
    """Use `resolve_threads(value)` threads in this process and in the subprocesses it starts."""
    n = resolve_threads(value)
    os.environ[THREADS_ENV] = str(n)
    for name in _POOL_VARIABLES:
        os.environ[name] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
