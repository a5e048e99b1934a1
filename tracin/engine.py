"""Exact TracInCP for pairwise ranking losses, from per-recording gradients.

For a pair p = (i, j) with margin s_p = f(x_i) - f(x_j) and loss l_p(s_p), the chain rule
gives grad l_p = l'_p (J_i - J_j), where J_i is the gradient of recording i's score. With
the Gram matrix K = J J^T of one checkpoint c,

    TracIn(p, q) = sum_c eta_c l'_p l'_q (K_ik - K_il - K_jk + K_jl)
    self(p)      = sum_c eta_c l'_p^2 (K_ii - 2 K_ij + K_jj)

so a checkpoint costs one gradient per recording instead of one per pair, and the
pair-by-pair matrix is built in row blocks from K by indexing. Removing a recording r
removes every training pair it is in; with c_r = sum_{p contains r} l'_p (e_i - e_j),
its influence on q is c_r^T K d_q and its self-influence c_r^T K c_r.

This module knows nothing about audio: it takes a model that scores one input at a time,
the inputs, pair index arrays, loss derivatives and (checkpoint state, eta) pairs.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import torch
from torch import nn
from tqdm import tqdm

from tracin.gradients import per_example_gradients

log = logging.getLogger(__name__)

# (margins (P,), targets (P,)) -> d loss_p / d margin_p (P,), weights already applied.
Derivative = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class CheckpointSpec:
    """One checkpoint: the weights to load, its learning rate and its loss derivatives."""

    state: Mapping[str, torch.Tensor]
    eta: float
    train_derivative: Derivative
    test_derivative: Derivative
    name: str = ""


@dataclass
class PairSet:
    """Pairs of input indices (P, 2) and their targets (P,) in {+1, -1}."""

    pairs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.pairs.shape[0])


@dataclass
class CheckpointTerms:
    """What one checkpoint contributes: eta, Gram matrix over the used inputs, and l' per pair."""

    eta: float
    gram: torch.Tensor  # (M, M) over the used inputs
    train_deriv: torch.Tensor  # (P,)
    test_deriv: torch.Tensor  # (Q,)
    name: str = ""


class TracInEngine:
    """Exact TracInCP of every training pair on every test pair.

    Args:
        model: scores one input at a time (eval mode is set here); weights come from the specs.
        inputs: (N, ...) all inputs the pairs index into.
        train, test: the pair sets; only the inputs they use get gradients.
        device: where gradients and Gram matrices live.
        dtype: float32, or float64 for reference-grade accuracy (not on MPS).
        grad_batch_size: inputs per gradient batch (bounds activation memory).
        gradient_method: `auto` (vmap on accelerators, a per-example loop on the CPU), `vmap` or `loop`.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: torch.Tensor,
        train: PairSet,
        test: PairSet,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        grad_batch_size: int = 32,
        progress: bool = False,
        gradient_method: str = "auto",
    ):
        self.device = torch.device(device)
        if self.device.type == "mps" and dtype == torch.float64:
            log.warning("MPS has no float64: computing in float32")
            dtype = torch.float32
        self.dtype = dtype
        self.model = model.to(device=self.device, dtype=dtype).eval()
        used = torch.unique(torch.cat([train.pairs.reshape(-1), test.pairs.reshape(-1)]))
        self.used = used  # (M,) indices into `inputs`
        position = torch.full((len(inputs),), -1, dtype=torch.long)
        position[used] = torch.arange(len(used))
        self.position = position  # input index -> row of the Gram matrix (-1: unused)
        self.train_local = position[train.pairs].to(self.device)  # (P, 2)
        self.test_local = position[test.pairs].to(self.device)  # (Q, 2)
        self.train_targets = train.targets.to(self.device, dtype)
        self.test_targets = test.targets.to(self.device, dtype)
        self.inputs = inputs[used]
        self.grad_batch_size = grad_batch_size
        self.progress = progress
        self.gradient_method = gradient_method

    def checkpoint_terms(self, spec: CheckpointSpec) -> CheckpointTerms:
        """Load one checkpoint, take one gradient per used input, and form its Gram matrix."""
        self.model.load_state_dict(spec.state)
        self.model.to(device=self.device, dtype=self.dtype).eval()
        with tqdm(total=len(self.inputs), desc=f"gradients {spec.name}", unit="rec", disable=not self.progress, leave=False) as bar:
            grads, scores = per_example_gradients(
                self.model,
                self.inputs.to(self.device, self.dtype),
                self.grad_batch_size,
                progress=bar.update,
                method=self.gradient_method,
            )
        gram = grads @ grads.T
        del grads
        scores = scores.detach()
        tr_margin = scores[self.train_local[:, 0]] - scores[self.train_local[:, 1]]
        te_margin = scores[self.test_local[:, 0]] - scores[self.test_local[:, 1]]
        return CheckpointTerms(
            eta=float(spec.eta),
            gram=gram,
            train_deriv=spec.train_derivative(tr_margin, self.train_targets).to(self.dtype),
            test_deriv=spec.test_derivative(te_margin, self.test_targets).to(self.dtype),
            name=spec.name,
        )

    def all_terms(self, specs: Sequence[CheckpointSpec]) -> list[CheckpointTerms]:
        return [self.checkpoint_terms(s) for s in specs]

    def influence_blocks(self, terms: Sequence[CheckpointTerms], block_rows: int = 4096) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield (rows, TracIn block (rows, Q)) over the training pairs; memory is O(block_rows x Q)."""
        ti, tj = self.train_local[:, 0], self.train_local[:, 1]
        qk, ql = self.test_local[:, 0], self.test_local[:, 1]
        for start in range(0, len(ti), block_rows):
            rows = slice(start, min(start + block_rows, len(ti)))
            block = torch.zeros(rows.stop - start, len(qk), device=self.device, dtype=self.dtype)
            for t in terms:
                diff = t.gram[ti[rows]] - t.gram[tj[rows]]  # (B, M): (J_i - J_j) . J_m
                block += (t.eta * t.train_deriv[rows])[:, None] * (diff[:, qk] - diff[:, ql]) * t.test_deriv[None, :]
            yield rows, block

    def influence_matrix(self, terms: Sequence[CheckpointTerms], block_rows: int = 4096) -> torch.Tensor:
        """The full (P, Q) TracIn matrix on the CPU (use `influence_blocks` when it would not fit)."""
        out = torch.empty(len(self.train_local), len(self.test_local), dtype=self.dtype)
        for rows, block in self.influence_blocks(terms, block_rows):
            out[rows] = block.cpu()
        return out

    def pair_self_influence(self, terms: Sequence[CheckpointTerms]) -> torch.Tensor:
        """TracIn of each training pair on itself. (P,)."""
        ti, tj = self.train_local[:, 0], self.train_local[:, 1]
        total = torch.zeros(len(ti), device=self.device, dtype=self.dtype)
        for t in terms:
            g = t.gram
            total += t.eta * t.train_deriv**2 * (g[ti, ti] - 2 * g[ti, tj] + g[tj, tj])
        return total.cpu()

    def recording_coefficients(self, t: CheckpointTerms, recordings: torch.Tensor) -> torch.Tensor:
        """C (R, M): row r = sum over training pairs containing recording r of l'_p (e_i - e_j)."""
        rec_local = self.position[recordings.cpu()].to(self.device)
        if bool((rec_local < 0).any()):
            raise ValueError("a recording asked for is in no training or test pair")
        local = torch.full((len(self.inputs),), -1, dtype=torch.long, device=self.device)
        local[rec_local] = torch.arange(len(rec_local), device=self.device)
        coeff = torch.zeros(len(rec_local), len(self.inputs), device=self.device, dtype=self.dtype)
        ti, tj = self.train_local[:, 0], self.train_local[:, 1]
        for owner in (ti, tj):
            keep = local[owner] >= 0
            rows = local[owner][keep]
            coeff.index_put_((rows, ti[keep]), t.train_deriv[keep], accumulate=True)
            coeff.index_put_((rows, tj[keep]), -t.train_deriv[keep], accumulate=True)
        return coeff

    def recording_influence(
        self, terms: Sequence[CheckpointTerms], recordings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Influence of removing each recording's training pairs, on each test pair and on itself.

        recordings (R,) indices into `inputs` -> (influence (R, Q), self-influence (R,)), on the CPU.
        """
        qk, ql = self.test_local[:, 0], self.test_local[:, 1]
        infl = torch.zeros(len(recordings), len(qk), device=self.device, dtype=self.dtype)
        self_infl = torch.zeros(len(recordings), device=self.device, dtype=self.dtype)
        for t in terms:
            coeff = self.recording_coefficients(t, recordings)
            ck = coeff @ t.gram  # (R, M)
            infl += t.eta * (ck[:, qk] - ck[:, ql]) * t.test_deriv[None, :]
            self_infl += t.eta * (ck * coeff).sum(dim=1)
        return infl.cpu(), self_infl.cpu()
