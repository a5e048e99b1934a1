"""How many CPU threads torch (and numpy's BLAS) may use: `--threads N`, or `auto`.

`auto` is 1 thread. The work here is many small operations (a small CNN on a batch of 16
spectrograms, one gradient per recording). Measured on a shared 2-core machine (load
average about 2-3 from other work; 72 recordings, 10 epochs of training, then TracIn over 5
checkpoints): one thread beat two even without our busy processes (train 10.1 s against
11.8 s, compute 5.0 s against 11.4 s), and beside two CPU-bound processes two threads
collapsed (train 48.9 s against 14.9 s, compute 53.8 s against 20.1 s): every parallel
region waits for its slowest thread, and a thread sharing a core with a busy process is
slow. torch's own default, one thread per core (`torch.get_num_threads()`; here the CPU
affinity, `os.sched_getaffinity`, and the physical cores were all 2), is what collapsed;
one thread never oversubscribes, whatever else runs. The whole demo: README, "Busy
machines". Pass a larger `--threads` for large models on an idle many-core machine.
`SINETONE_THREADS` sets the default for a session, and the chosen value is exported to
subprocesses (the demo's steps inherit it).

`apply_threads` runs before torch is imported, so the OpenMP pool is sized once; it also
sets torch's count when torch is already loaded.
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
