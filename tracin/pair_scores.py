"""TracIn of blocks of training pairs on a set of test pairs, as one sparse product per block.

For training pair p = (i, j) and test pair q = (k, l), summed over checkpoints c with
w_pc = eta_c l'_pc (training side) and b_cq = l'_cq (test side):

    TracIn(p, q) = sum_c w_pc b_cq (K_c[i,k] - K_c[i,l] - K_c[j,k] + K_c[j,l])

Row p is a combination of 2C rows of a basis that depends only on the checkpoints and the
test pairs, so the basis is built once per set of test pairs (`ScoreBasis`), and each block
of training pairs is one sparse (B, C x T) matrix, with w_pc and -w_pc at checkpoint c's
rows of i and j, times it (T: the inputs the training pairs use). Two bases, whichever costs
less per row:

- `pairs`: U_c[m, q] = b_cq (K_c[m,k] - K_c[m,l]), (C x T, Q'): the product is the scores;
- `inputs`: K_c[m, n] over the test inputs n the pairs use, (C x T, M'), per group of
  checkpoints with equal test derivatives: the product is A_g = sum_c w_pc (K_c[i,.] - K_c[j,.]),
  and TracIn(p, q) = sum_g (A_g[p, k] - A_g[p, l]) b_gq. Cheaper when M' is much smaller
  than Q' (every test pair of 250 validation recordings: 26,000 pairs, 250 inputs).

The columns of A_g are spread to the test pairs either as a (B, Q') block (two column gathers
and a subtraction: three passes over the block) or, `transposed`, as a (Q', B) block made by
one `embedding_bag` over the rows of A_g^T: each test pair a bag of its two inputs with
weights +1 and -1, so that every output value is written once (A_k + (-1) A_l is A_k - A_l
exactly: IEEE negation and a product by 1 are exact). On 2e9 scores on one core that was
1.4 s against 3.8 s for the gathers (benchmarks/bench_tracin.py measures the whole engine).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F


@dataclass
class ScoreBasis:
    """What every block of training pairs is multiplied with, for one set of test pairs."""

    kind: str  # "pairs" or "inputs"
    stacks: list[torch.Tensor]  # per group: (C_g x T, width)
    members: list[list[int]]  # per group: the checkpoints (indices into the terms) of its stack, in order
    derivs: list[torch.Tensor | None]  # per group (kind "inputs"): b_g (Q',); None: +-1, folded into `cols`
    cols: torch.Tensor | None  # (Q', 2) columns of the stacks each test pair uses (kind "inputs")
    n_train_inputs: int  # T

    @property
    def width(self) -> int:
        """Columns of the widest product of a block with the basis (memory: B x (width + Q'))."""
        return max((int(s.shape[1]) for s in self.stacks), default=0)


def groups_by_test_derivative(test_derivs: Sequence[torch.Tensor]) -> list[list[int]]:
    """Checkpoints (indices) grouped by equal test derivatives: one group for a weight-free measurement."""
    groups: list[list[int]] = []
    for c, d in enumerate(test_derivs):
        for g in groups:
            if torch.equal(test_derivs[g[0]], d):
                g.append(c)
                break
        else:
            groups.append([c])
    return groups


def build_basis(grams: Sequence[torch.Tensor], test_derivs: Sequence[torch.Tensor], train_inputs: torch.Tensor,
                test_pos: torch.Tensor, test_inputs: torch.Tensor, max_bytes: int) -> ScoreBasis:
    """The basis for test pairs `test_pos` (Q', 2), given as positions in `test_inputs` (M', inputs of the Gram
    matrices), with their test derivatives `test_derivs` (per checkpoint, (Q',)); `train_inputs` (T,) the
    Gram rows the training pairs use. grams: per checkpoint (M, M). The `pairs` basis only within `max_bytes`."""
    groups = groups_by_test_derivative(test_derivs)
    C, Q, M, T = len(grams), len(test_pos), len(test_inputs), len(train_inputs)
    item = torch.finfo(grams[0].dtype).bits // 8 if grams else 4
    # Per row of scores: the product's width against the gathers after it.
    if 2 * C * Q <= 2 * C * M + 3 * len(groups) * Q and C * T * Q * item <= max_bytes:
        parts = []
        for c in range(C):
            rows = grams[c].index_select(0, train_inputs).index_select(1, test_inputs)  # (T, M')
            parts.append(rows.index_select(1, test_pos[:, 0]).sub_(rows.index_select(1, test_pos[:, 1]))
                         .mul_(test_derivs[c][None, :]))
        return ScoreBasis("pairs", [torch.cat(parts)], [list(range(C))], [], None, T)
    stacks = [torch.cat([grams[c].index_select(0, train_inputs).index_select(1, test_inputs) for c in g]) for g in groups]
    derivs: list[torch.Tensor | None] = [test_derivs[g[0]] for g in groups]
    cols = test_pos
    if len(groups) == 1 and bool((derivs[0].abs() == 1).all()):
        # b_q = +-1 (the margin measurement): (A_k - A_l) b_q is A_l - A_k where b_q = -1, exactly (IEEE subtraction
        # is sign-symmetric), so swapping those pairs' columns saves a pass over every (B, Q') block.
        cols = torch.where((derivs[0] < 0)[:, None], test_pos.flip(1), test_pos)
        derivs = [None]
    return ScoreBasis("inputs", stacks, groups, derivs, cols, T)


def pair_weights(first: torch.Tensor, second: torch.Tensor, weights: torch.Tensor, n_inputs: int) -> torch.Tensor:
    """The sparse (B, C x T) matrix with w_pc at (p, c T + i_p) and -w_pc at (p, c T + j_p).

    first, second (B,) positions among the T training inputs; weights (B, C)."""
    b, c = weights.shape
    lo, hi = torch.minimum(first, second), torch.maximum(first, second)
    sign = torch.where(first < second, 1.0, -1.0).to(weights.dtype)[:, None]
    offset = torch.arange(c, device=weights.device) * n_inputs
    columns = torch.stack([offset + lo[:, None], offset + hi[:, None]], dim=2).reshape(-1)  # sorted within each row
    values = torch.stack([weights * sign, -weights * sign], dim=2).reshape(-1)
    rows = torch.arange(0, 2 * c * b + 1, 2 * c, device=weights.device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta": CSR times dense is all we use
        return torch.sparse_csr_tensor(rows, columns, values, (b, c * n_inputs), check_invariants=False)


def score_block(basis: ScoreBasis, first: torch.Tensor, second: torch.Tensor, weights: torch.Tensor,
                transposed: bool = False) -> torch.Tensor:
    """TracIn (B, Q') of the training pairs (first, second) (positions among the T training inputs), with
    w_pc = `weights` (B, C) (eta_c l'_pc, checkpoints in the terms' order), on the basis's test pairs;
    (Q', B) with `transposed`."""
    out = None
    for stack, members, g in zip(basis.stacks, basis.members, range(len(basis.stacks))):
        x = pair_weights(first, second, weights[:, members], basis.n_train_inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            product = x @ stack  # (B, width)
        if basis.kind == "pairs":
            return product.T.contiguous() if transposed else product
        if transposed:
            piece = spread_columns(product.T.contiguous(), basis.cols)
            if basis.derivs[g] is not None:
                piece.mul_(basis.derivs[g][:, None])
        else:
            piece = product.index_select(1, basis.cols[:, 0]).sub_(product.index_select(1, basis.cols[:, 1]))
            if basis.derivs[g] is not None:
                piece.mul_(basis.derivs[g][None, :])
        out = piece if out is None else out.add_(piece)
    return out


def spread_columns(table: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Row q = table[cols[q, 0]] - table[cols[q, 1]]: table (M', B), cols (Q', 2) -> (Q', B).

    One `embedding_bag` (a bag of two rows per output row, weights +1 and -1) where the device has it,
    two row gathers and a subtraction elsewhere; the same values either way."""
    if table.device.type not in ("cpu", "cuda"):
        return table.index_select(0, cols[:, 0]).sub_(table.index_select(0, cols[:, 1]))
    signs = torch.tensor([1.0, -1.0], dtype=table.dtype, device=table.device).repeat(len(cols))
    offsets = torch.arange(0, 2 * len(cols), 2, device=table.device)
    return F.embedding_bag(cols.reshape(-1), table, offsets, mode="sum", per_sample_weights=signs)
