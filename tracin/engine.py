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

Checkpoints whose test derivatives l'_q agree (a measurement that does not depend on the
weights, such as the margin itself) are summed before the test pairs are indexed:
sum_c eta_c l'_p (K_i. - K_j.) is one (rows, M_test) matrix, and each test pair is then one
difference of two of its columns. K itself is accumulated without ever holding the
(N, D) gradient matrix (`tracin.gram`).

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

from tracin.gram import DEFAULT_MEMORY_BUDGET, gram_and_scores
from tracin.pair_scores import ScoreBasis, build_basis, groups_by_test_derivative, score_block
from tracin.recordings import RecordingTerms, coefficients, test_vector
from tracin.sketch import CountSketch

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
    scores: torch.Tensor  # (M,) the used inputs' scores at this checkpoint
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
        memory_budget: bytes for one block of per-input gradients (`tracin.gram`).
        projection_dim: None for the exact Gram matrix; k for a CountSketch of the gradients
            (approximate, for models with millions of parameters).
        projection_seed: seed of the sketch.
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
        memory_budget: int = DEFAULT_MEMORY_BUDGET,
        projection_dim: int | None = None,
        projection_seed: int = 0,
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
        # The inputs the test pairs use, and each test pair's two positions among them.
        self.test_inputs, test_pos = torch.unique(self.test_local, return_inverse=True)
        self.test_pos = test_pos.reshape(-1, 2)  # (Q, 2) columns of `test_inputs`
        # The inputs the training pairs use, and each training pair's two positions among them.
        self.train_inputs, train_pos = torch.unique(self.train_local, return_inverse=True)
        self.train_first, self.train_second = train_pos.reshape(-1, 2).unbind(1)  # (P,) each
        self.inputs = inputs[used]
        self.grad_batch_size = grad_batch_size
        self.progress = progress
        self.gradient_method = gradient_method
        self.memory_budget = memory_budget
        self.sketch = None
        if projection_dim is not None:
            sizes = {k: p.numel() for k, p in self.model.named_parameters() if p.requires_grad}
            self.sketch = CountSketch(sizes, projection_dim, projection_seed, self.device)

    def checkpoint_terms(self, spec: CheckpointSpec) -> CheckpointTerms:
        """Load one checkpoint, take one gradient per used input, and form its Gram matrix."""
        self.model.load_state_dict(spec.state)
        self.model.to(device=self.device, dtype=self.dtype).eval()
        with tqdm(desc=f"gradients {spec.name}", unit="rec", disable=not self.progress, leave=False) as bar:
            gram, scores = gram_and_scores(
                self.model, self.inputs.to(self.device, self.dtype), self.grad_batch_size, self.gradient_method,
                self.memory_budget, self.sketch, progress=bar.update,
            )
        scores = scores.detach()
        tr_margin = scores[self.train_local[:, 0]] - scores[self.train_local[:, 1]]
        te_margin = scores[self.test_local[:, 0]] - scores[self.test_local[:, 1]]
        return CheckpointTerms(
            eta=float(spec.eta),
            gram=gram,
            scores=scores,
            train_deriv=spec.train_derivative(tr_margin, self.train_targets).to(self.dtype),
            test_deriv=spec.test_derivative(te_margin, self.test_targets).to(self.dtype),
            name=spec.name,
        )

    def all_terms(self, specs: Sequence[CheckpointSpec]) -> list[CheckpointTerms]:
        return [self.checkpoint_terms(s) for s in specs]

    def score_basis(self, terms: Sequence[CheckpointTerms], columns: torch.Tensor | None = None) -> ScoreBasis:
        """What `influence_rows` multiplies each block of training pairs with, for the test pairs `columns`
        (default: all): built once per pass over the training pairs (`tracin.pair_scores`)."""
        cols = self.test_pos if columns is None else self.test_pos[columns.to(self.device)]
        derivs = [t.test_deriv if columns is None else t.test_deriv[columns.to(self.device)] for t in terms]
        # Only the test inputs the columns use (all of them when every test pair is scored).
        inputs, local = torch.unique(cols, return_inverse=True)
        return build_basis([t.gram for t in terms], derivs, self.train_inputs, local.view(-1, 2),
                           self.test_inputs[inputs], self.memory_budget)

    def pair_weights(self, terms: Sequence[CheckpointTerms], rows: torch.Tensor) -> torch.Tensor:
        """w_pc = eta_c l'_pc of the training pairs `rows` (B,) at every checkpoint. -> (B, C)."""
        rows = rows.to(self.device)
        return torch.stack([t.eta * t.train_deriv[rows] for t in terms], dim=1)

    def influence_rows(
        self, terms: Sequence[CheckpointTerms], rows: torch.Tensor, columns: torch.Tensor | None = None,
        transposed: bool = False, basis: ScoreBasis | None = None,
    ) -> torch.Tensor:
        """TracIn of the training pairs `rows` (B,) on the test pairs `columns` (Q',) (default: all).

        -> (B, Q'), or (Q', B) with `transposed`. `basis`: `score_basis(terms, columns)`, made here when
        not given (pass it when scoring many blocks on the same columns). Memory: B x (Q' + M').
        """
        basis = self.score_basis(terms, columns) if basis is None else basis
        rows = rows.to(self.device)
        return score_block(basis, self.train_first[rows], self.train_second[rows], self.pair_weights(terms, rows),
                           transposed)

    def influence_blocks(self, terms: Sequence[CheckpointTerms], block_rows: int = 4096) -> Iterator[tuple[slice, torch.Tensor]]:
        """Yield (rows, TracIn block (rows, Q)) over the training pairs; memory is O(block_rows x Q)."""
        basis = self.score_basis(terms)
        for start in range(0, len(self.train_local), block_rows):
            rows = slice(start, min(start + block_rows, len(self.train_local)))
            yield rows, self.influence_rows(terms, torch.arange(rows.start, rows.stop), basis=basis)

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

    def recording_terms(
        self, terms: Sequence[CheckpointTerms], recordings: torch.Tensor, columns: torch.Tensor | None = None
    ) -> RecordingTerms:
        """What recording-level influence is built from (`tracin.recordings`), for `recordings` (R,)
        (indices into `inputs`) and the test pairs `columns` (default: all; the totals and
        self-influence always cover every test pair)."""
        rec_local = self.position[recordings.cpu()].to(self.device)
        if bool((rec_local < 0).any()):
            raise ValueError("a recording asked for is in no training or test pair")
        slot = torch.full((len(self.inputs),), -1, dtype=torch.long, device=self.device)
        slot[self.train_inputs] = torch.arange(len(self.train_inputs), device=self.device)
        in_train = slot[rec_local]
        row_of = torch.full((len(self.train_inputs),), -1, dtype=torch.long, device=self.device)
        row_of[in_train[in_train >= 0]] = torch.nonzero(in_train >= 0).flatten()
        cols = self.test_pos if columns is None else self.test_pos[columns.to(self.device)]
        kept = torch.unique(cols)
        where = torch.full((len(self.test_inputs),), -1, dtype=torch.long, device=self.device)
        where[kept] = torch.arange(len(kept), device=self.device)
        R, tr = len(recordings), self.train_inputs
        totals = torch.zeros(R, device=self.device, dtype=self.dtype)
        self_infl = torch.zeros(R, device=self.device, dtype=self.dtype)
        accs, derivs = [], []
        for group in groups_by_test_derivative([t.test_deriv for t in terms]):
            acc = torch.zeros(R, len(kept), device=self.device, dtype=self.dtype)
            d = test_vector(self.test_pos, terms[group[0]].test_deriv, len(self.test_inputs))
            for t in (terms[c] for c in group):
                coeff = coefficients(self.train_first, self.train_second, t.train_deriv, row_of, R)  # (R, T)
                rows = t.gram.index_select(0, tr)  # (T, M)
                self_infl += t.eta * ((coeff @ rows.index_select(1, tr)) * coeff).sum(dim=1)
                acc += t.eta * (coeff @ rows.index_select(1, self.test_inputs[kept]))
                totals += t.eta * (coeff @ (rows.index_select(1, self.test_inputs) @ d))
            accs.append(acc)
            derivs.append(terms[group[0]].test_deriv)
        return RecordingTerms(accs, derivs, where, totals, self_infl)

    def recording_columns(self, parts: RecordingTerms, columns: torch.Tensor | None = None) -> torch.Tensor:
        """Recording-level influence on the test pairs `columns` (default: all; they must be among those
        `recording_terms` kept). -> (R, Q') on the CPU."""
        cols = self.test_pos if columns is None else self.test_pos[columns.to(self.device)]
        local = parts.where[cols]
        if bool((local < 0).any()):
            raise ValueError("recording_columns: a test pair outside the columns recording_terms was given")
        out = None
        for acc, deriv in zip(parts.accs, parts.derivs):
            b = deriv if columns is None else deriv[columns.to(self.device)]
            piece = (acc[:, local[:, 0]] - acc[:, local[:, 1]]) * b[None, :]
            out = piece if out is None else out + piece
        return out.cpu()

    def recording_totals(self, parts: RecordingTerms) -> torch.Tensor:
        """Recording-level influence summed over every test pair. -> (R,) on the CPU.

        sum_q (A[r, k_q] - A[r, l_q]) b_q = C (K d), d[m] adding b_q over the test pairs whose first
        input is m and subtracting it over those whose second input is m (`tracin.recordings`).
        """
        return parts.totals.cpu()

    def recording_influence(
        self, terms: Sequence[CheckpointTerms], recordings: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Influence of removing each recording's training pairs, on each test pair and on itself.

        recordings (R,) indices into `inputs` -> (influence (R, Q), self-influence (R,)), on the CPU.
        """
        parts = self.recording_terms(terms, recordings)
        return self.recording_columns(parts), parts.self_influence.cpu()
