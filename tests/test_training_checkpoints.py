"""Finding, loading and checking checkpoints: ordered by epoch number, loaded with weights_only=True from the
bytes that were hashed, one line for a file that is not one, the model rebuilt strictly, the learning rate
TracIn weighs each checkpoint by."""
from __future__ import annotations

import pytest
import torch

from models import SimpleCNNAudioRanker
from training.checkpoints import (
    checkpoint_learning_rate,
    list_checkpoints,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from training.records import CheckpointRecord


def record(model: torch.nn.Module, epoch: int = 1, lr: float | None = 0.01) -> CheckpointRecord:
    return CheckpointRecord(epoch=epoch, model_state=model.state_dict(), model_class=type(model).__name__,
                            model_kwargs=model.constructor_kwargs(), learning_rate=lr)


@pytest.fixture
def model() -> SimpleCNNAudioRanker:
    torch.manual_seed(0)
    return SimpleCNNAudioRanker(max_freq_bins=40, channels=(2, 4, 4), hidden=8)


def test_checkpoints_are_ordered_by_epoch_number_not_by_name(tmp_path, model):
    for epoch in (10, 2, 1):
        save_checkpoint(record(model, epoch), tmp_path / f"model_checkpoint_epoch_{epoch}.pt")
    (tmp_path / "model_checkpoint_epoch_x.pt").write_text("not one")
    (tmp_path / "run.json").write_text("{}")
    assert [e for e, _ in list_checkpoints(tmp_path)] == [1, 2, 10]
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in .* matches 'ckpt_<epoch>.pt'; the folder holds: "
                                                r"model_checkpoint_epoch_1.pt, .*run.json"):
        list_checkpoints(tmp_path, "ckpt")
    with pytest.raises(FileNotFoundError, match="checkpoint folder not found"):
        list_checkpoints(tmp_path / "missing")


def test_loaded_from_the_bytes_given_and_rebuilt_strictly(tmp_path, model):
    path = tmp_path / "c.pt"
    save_checkpoint(record(model, 3), path)
    data = path.read_bytes()
    path.write_bytes(b"changed after it was read")  # what was hashed is what is loaded
    loaded = load_checkpoint(path, data)
    rebuilt = model_from_checkpoint(loaded, path)
    x = torch.randn(2, 40, 64)
    model.eval()
    rebuilt.eval()
    assert loaded.epoch == 3 and torch.equal(rebuilt(x), model(x))
    other = record(SimpleCNNAudioRanker(max_freq_bins=40, channels=(2, 4, 8), hidden=8))
    other.model_kwargs = loaded.model_kwargs  # claims this architecture, holds another's weights
    with pytest.raises(ValueError, match=r"c\.pt: weights do not fit SimpleCNNAudioRanker \(different architecture"):
        model_from_checkpoint(other, path)


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path, model):
    cut = tmp_path / "cut.pt"
    save_checkpoint(record(model), cut)
    cut.write_bytes(cut.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"cut\.pt: not a readable checkpoint \(truncated, corrupt or unsafe"):
        load_checkpoint(cut)
    plain = tmp_path / "plain.pt"
    torch.save({"epoch": 1}, plain)
    with pytest.raises(ValueError, match="not a checkpoint of this toolkit .missing model_state, model_class, model_kwargs"):
        load_checkpoint(plain)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")


def test_the_learning_rate_tracin_weighs_a_checkpoint_by(model):
    assert checkpoint_learning_rate(record(model, lr=0.02), "c.pt") == 0.02
    with pytest.raises(ValueError, match=r"c\.pt stores no learning rate.*--assume-learning-rate X"):
        checkpoint_learning_rate(record(model, lr=None), "c.pt")
    assert checkpoint_learning_rate(record(model, lr=None), "c.pt", assume=0.5) == 0.5
    for bad in (0.0, -1.0, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(ValueError, match="is not a finite positive number"):
            checkpoint_learning_rate(record(model, lr=bad), "c.pt", assume=0.5)
