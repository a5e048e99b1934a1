"""The same numbers on every x86 machine: which CPU kernels torch's libraries may choose.

torch picks its CPU kernels by the processor: ATen's vectorised ones for the widest
instruction set it finds (`ATEN_CPU_CAPABILITY`: default, avx2, avx512), MKL's BLAS and
oneDNN's convolutions theirs. The kernels sum in different orders, so a checkpoint trained
on an AVX2 machine differs from an AVX-512 one in the last bits of its weights (1.9e-6 at
most after one epoch of the demo, measured here with ATEN_CPU_CAPABILITY=default against
avx2), and from there every later number may differ a little: a list near a rule's cut can
gain or lose a take, a mean holdout accuracy its last digit.

`PORTABLE` fixes the choice for a process started with it (the libraries read these
variables when they load): ATen's default kernels, MKL's conditional numerical
reproducibility (`MKL_CBWR=COMPATIBLE`) and oneDNN limited to SSE4.1. `make demo` runs the
demo's steps with it (`--numerics portable`), so that the figures the docs quote
(docs/update_figures.py) are what `make demo` gives on any machine; the scripts keep the
native kernels unless these variables are set.
Importing this needs no torch.
"""
from __future__ import annotations

import os

PORTABLE = {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "SSE41"}
"""The environment that fixes the kernels (read by torch, MKL and oneDNN when they load)."""


def environment(portable: bool) -> dict[str, str] | None:
    """The environment for a subprocess: this one's with `PORTABLE` (None with `portable` False: inherit it
    unchanged, the native kernels unless the user set these variables)."""
    return {**os.environ, **PORTABLE} if portable else None
