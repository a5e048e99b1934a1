"""The fast engine against a brute-force loop of torch.autograd.grad per pair per checkpoint."""
from __future__ import annotations

import pytest
import torch

from datasets.pairs import make_pairs
from influence.task import checkpoint_spec, reference_checkpoint
from losses import GHMPairLoss, MarginRankingPairLoss
from tracin import PairSet, TracInEngine
from conftest import TinyCheckpoints
from tracin.reference import naive_tracin

ETAS = (0.5, 0.1, 0.02)
ANGLES = [0, 0, 36, 72, 72, 108, 144, 180]


@pytest.fixture(scope="module")
def fixture(tiny_checkpoints):
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(len(ANGLES), 24, 8, generator=gen, dtype=torch.float64)
    states = list(tiny_checkpoints.states)
    # Recording 4 is in both sets, as a validation recording may share nothing or a lot.
    tr_pairs, tr_targets = make_pairs([0, 1, 2, 3, 4], ANGLES)
    te_pairs, te_targets = make_pairs([4, 5, 6, 7], ANGLES)
    train = PairSet(torch.from_numpy(tr_pairs), torch.from_numpy(tr_targets).double())
    test = PairSet(torch.from_numpy(te_pairs), torch.from_numpy(te_targets).double())
    return inputs, states, train, test


def make_losses(kind: str) -> list:
    if kind == "standard":
        # A small margin, so that some pairs are beyond it (zero gradient) and some are not.
        return [MarginRankingPairLoss(margin=0.3) for _ in ETAS]
    losses = []
    for c in range(len(ETAS)):
        loss = GHMPairLoss(bins=4, alpha=0.75)
        loss.load_state_dict({"density": torch.tensor([3.0 + c, 1.0, 0.0, 2.0 + c], dtype=torch.float64)})
        losses.append(loss)
    return losses


def engine_and_reference(fixture, kind: str, grad_batch_size: int = 3, test_is_train: bool = False, method: str = "auto"):
    inputs, states, train, test = fixture
    if test_is_train:
        test = train
    losses = make_losses(kind)
    model = TinyCheckpoints.model()
    specs = [checkpoint_spec(s, eta, loss, f"c{c}") for c, (s, eta, loss) in enumerate(zip(states, ETAS, losses))]
    if test_is_train:
        for spec in specs:
            spec.test_derivative = spec.train_derivative
    engine = TracInEngine(model, inputs, train, test, "cpu", torch.float64, grad_batch_size, gradient_method=method)
    terms = engine.all_terms(specs)
    ref_model = TinyCheckpoints.model()
    refs = [reference_checkpoint(ref_model, s, eta, loss, inputs, train) for s, eta, loss in zip(states, ETAS, losses)]
    if test_is_train:
        for ref in refs:
            ref.test_pair_loss = ref.train_pair_loss
    return engine, terms, ref_model, refs, train, test


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("method", ["batched", "loop", "vmap"])
@pytest.mark.parametrize("kind", ["standard", "ghm"])
def test_matches_brute_force(fixture, kind, method):
    engine, terms, ref_model, refs, train, test = engine_and_reference(fixture, kind, method=method)
    fast = engine.influence_matrix(terms)
    slow = naive_tracin(ref_model, fixture[0], train, test, refs)
    assert fast.shape == (len(train), len(test))
    assert slow.abs().max() > 0
    assert rel_err(fast, slow) <= 1e-6
    if kind == "standard":
        zero_pairs = torch.stack([t.train_deriv == 0 for t in terms])
        assert zero_pairs.any() and not zero_pairs.all(), "fixture must mix active and inactive pairs"


@pytest.mark.parametrize("kind", ["standard", "ghm"])
def test_self_influence_is_diagonal_of_train_by_train(fixture, kind):
    engine, terms, ref_model, refs, train, _ = engine_and_reference(fixture, kind, test_is_train=True)
    full = engine.influence_matrix(terms)
    assert torch.allclose(engine.pair_self_influence(terms), torch.diagonal(full), rtol=1e-10, atol=1e-14)
    slow = naive_tracin(ref_model, fixture[0], train, train, refs)
    assert rel_err(torch.diagonal(full), torch.diagonal(slow)) <= 1e-6


@pytest.mark.parametrize("kind", ["standard", "ghm"])
def test_recording_influence_sums_its_pairs(fixture, kind):
    engine, terms, ref_model, refs, train, test = engine_and_reference(fixture, kind)
    recordings = torch.tensor([0, 1, 2, 3, 4])
    rec_infl, rec_self = engine.recording_influence(terms, recordings)
    pair_infl = engine.influence_matrix(terms)
    for k, r in enumerate(recordings.tolist()):
        member = (train.pairs == r).any(dim=1)
        assert torch.allclose(rec_infl[k], pair_infl[member].sum(dim=0), rtol=1e-9, atol=1e-14)
    # Self-influence of removing a recording: |sum of its pairs' gradients|^2, by brute force.
    train_by_train = naive_tracin(ref_model, fixture[0], train, train, [
        type(r)(r.state, r.eta, r.train_pair_loss, r.train_pair_loss) for r in refs
    ])
    for k, r in enumerate(recordings.tolist()):
        member = (train.pairs == r).any(dim=1)
        expected = train_by_train[member][:, member].sum()
        assert abs(float(rec_self[k] - expected)) <= 1e-6 * float(train_by_train.abs().max())


def test_independent_of_batch_and_block_sizes(fixture):
    results = []
    for grad_batch in (1, 3, 64):
        engine, terms, *_ = engine_and_reference(fixture, "ghm", grad_batch_size=grad_batch)
        for block_rows in (1, 7, 4096):
            results.append(engine.influence_matrix(terms, block_rows))
    for r in results[1:]:
        assert torch.allclose(r, results[0], rtol=1e-10, atol=1e-15)


def test_learning_rates_weight_each_checkpoint(fixture):
    """Scaling one checkpoint's eta scales exactly its share of the total."""
    engine, terms, *_ = engine_and_reference(fixture, "standard")
    base = engine.influence_matrix(terms)
    only_first = engine.influence_matrix(terms[:1])
    terms[0].eta *= 3.0
    tripled = engine.influence_matrix(terms)
    assert torch.allclose(tripled - base, 2.0 * only_first, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("measurement", ["margin", "logistic", "loss"])
@pytest.mark.parametrize("kind", ["standard", "ghm"])
def test_every_measurement_matches_brute_force(fixture, kind, measurement):
    """The training side is the trained loss with its weights; the validation side the measurement."""
    inputs, states, train, test = fixture
    losses = make_losses(kind)
    specs = [checkpoint_spec(s, eta, loss, f"c{c}", measurement) for c, (s, eta, loss) in enumerate(zip(states, ETAS, losses))]
    engine = TracInEngine(TinyCheckpoints.model(), inputs, train, test, "cpu", torch.float64, 3)
    terms = engine.all_terms(specs)
    ref_model = TinyCheckpoints.model()
    refs = [reference_checkpoint(ref_model, s, eta, loss, inputs, train, measurement) for s, eta, loss in zip(states, ETAS, losses)]
    slow = naive_tracin(ref_model, inputs, train, test, refs)
    fast = engine.influence_matrix(terms, block_rows=5)
    assert rel_err(fast, slow) <= 1e-6
    if measurement != "loss":  # a smooth measurement gives every validation pair a gradient
        assert bool((torch.stack([t.test_deriv for t in terms]) != 0).all())
    # The recording-level influence is the sum of the pairs' rows, measurement or not.
    rec_infl, _ = engine.recording_influence(terms, torch.tensor([0, 2, 4]))
    for k, r in enumerate((0, 2, 4)):
        member = (train.pairs == r).any(dim=1)
        assert torch.allclose(rec_infl[k], fast[member].sum(dim=0), rtol=1e-9, atol=1e-14)
    # Selected columns are the same numbers as the full matrix's.
    cols = torch.tensor([3, 0, 5])
    assert torch.allclose(engine.influence_rows(terms, torch.tensor([1, 4]), cols), fast[[1, 4]][:, cols], rtol=1e-12)
    # One column: its basis covers only that pair or its two test inputs, not every test input.
    assert engine.score_basis(terms, torch.tensor([4])).width <= 2 < len(engine.test_inputs)
    assert torch.allclose(engine.influence_rows(terms, torch.arange(len(train)), torch.tensor([4]), transposed=True),
                          fast[:, [4]].T, rtol=1e-12)


def test_parameter_blocks_give_the_same_gram_and_a_sketch_approximates_it(fixture):
    inputs, states, train, test = fixture
    spec = checkpoint_spec(states[0], 1.0, MarginRankingPairLoss(0.3))
    whole = TracInEngine(TinyCheckpoints.model(), inputs, train, test, "cpu", torch.float64, 3).checkpoint_terms(spec)
    # Budgets below every block's (N, D_b) gradients: each block is spilled to a temporary file
    # and summed from row chunks (1 row at a time; then chunks of several rows, the last one short).
    for budget in (1, 6000):
        tiny_budget = TracInEngine(TinyCheckpoints.model(), inputs, train, test, "cpu", torch.float64, 3,
                                   memory_budget=budget)
        blocked = tiny_budget.checkpoint_terms(spec)
        assert torch.allclose(blocked.gram, whole.gram, rtol=1e-12, atol=1e-15)
        assert torch.equal(blocked.scores, whole.scores)
    errors = []
    for k in (64, 4096):
        sketched = TracInEngine(TinyCheckpoints.model(), inputs, train, test, "cpu", torch.float64, 3, projection_dim=k,
                                projection_seed=1).checkpoint_terms(spec)
        errors.append(float((sketched.gram - whole.gram).norm() / whole.gram.norm()))
    assert errors[1] < errors[0] and errors[1] < 0.05


@pytest.mark.parametrize("measurement", ["margin", "logistic"])
def test_the_inputs_basis_matches_brute_force(fixture, measurement):
    """Many test pairs on few test inputs take the `inputs` basis (the logistic measurement, one group per
    checkpoint, only when the `pairs` basis exceeds the memory budget); the margin's +-1 derivatives are folded
    into its columns (no multiply pass), the logistic's are not; both equal the brute-force loop."""
    inputs, states, train, _ = fixture
    te_pairs, te_targets = make_pairs(list(range(len(ANGLES))), ANGLES)
    test = PairSet(torch.from_numpy(te_pairs), torch.from_numpy(te_targets).double())
    losses = make_losses("standard")
    specs = [checkpoint_spec(s, eta, loss, f"c{c}", measurement) for c, (s, eta, loss) in enumerate(zip(states, ETAS, losses))]
    budget = {} if measurement == "margin" else {"memory_budget": 1}
    engine = TracInEngine(TinyCheckpoints.model(), inputs, train, test, "cpu", torch.float64, 3, **budget)
    terms = engine.all_terms(specs)
    basis = engine.score_basis(terms)
    assert basis.kind == "inputs" and len(test) > 2 * len(engine.test_inputs)
    assert (basis.derivs == [None]) == (measurement == "margin")
    ref_model = TinyCheckpoints.model()
    refs = [reference_checkpoint(ref_model, s, eta, loss, inputs, train, measurement) for s, eta, loss in zip(states, ETAS, losses)]
    assert rel_err(engine.influence_matrix(terms, block_rows=5), naive_tracin(ref_model, inputs, train, test, refs)) <= 1e-6


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("measurement", ["margin", "logistic", "pairs-basis"])
def test_the_transposed_layout_holds_the_same_numbers_bit_for_bit(fixture, measurement, dtype):
    """(Q', B) scores (one embedding_bag per group in the `inputs` basis) are the (B, Q') scores transposed,
    exactly: A_k + (-1) A_l is A_k - A_l in IEEE arithmetic, and the derivatives multiply the same values."""
    inputs, states, train, test = fixture
    if measurement != "pairs-basis":  # every pair of every recording: the inputs basis
        te_pairs, te_targets = make_pairs(list(range(len(ANGLES))), ANGLES)
        test = PairSet(torch.from_numpy(te_pairs), torch.from_numpy(te_targets).double())
    spec_measurement = "logistic" if measurement == "logistic" else "margin"
    specs = [checkpoint_spec(s, eta, loss, f"c{c}", spec_measurement)
             for c, (s, eta, loss) in enumerate(zip(states, ETAS, make_losses("ghm")))]
    budget = {"memory_budget": 1} if measurement == "logistic" else {}
    engine = TracInEngine(TinyCheckpoints.model(), inputs.to(dtype), train, test, "cpu", dtype, 3, **budget)
    terms = engine.all_terms(specs)
    # A few repeated columns take the pairs basis; all of them (many pairs on few inputs) the inputs basis.
    cols = torch.tensor([5, 0, 3, 3, 1]) if measurement == "pairs-basis" else torch.arange(len(test)).flip(0)
    basis = engine.score_basis(terms, cols)
    assert basis.kind == ("pairs" if measurement == "pairs-basis" else "inputs")
    rows = torch.tensor([4, 0, 2, 7, 1])
    by_row = engine.influence_rows(terms, rows, cols, basis=basis)
    by_column = engine.influence_rows(terms, rows, cols, transposed=True, basis=basis)
    assert by_column.shape == (len(cols), len(rows)) and by_column.is_contiguous()
    assert torch.equal(by_column, by_row.T) and bool(by_row.abs().max() > 0)
