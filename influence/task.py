"""The loss-to-engine adapter: what TracIn differentiates at each checkpoint.

The engine (`tracin/`) takes derivatives as callables. The training side is exact: the
loss each checkpoint was trained with (type, settings and running state such as GHM
densities, after the overrides the user asked for), with its weights. The validation side
is a *measurement* of each validation pair (`MEASUREMENTS`, see docs/design.md):

- `margin` (default): L_q = -y_q s_q, the pair's signed margin. Every pair carries the
  same weight whatever the weights, so checkpoints can be summed before indexing, and a
  few validation pairs with wrong labels cannot dominate it;
- `logistic`: L_q = log(1 + exp(-y_q s_q)), smooth, weighted towards misranked pairs;
- `loss`: the plain (unweighted) training loss, as before; with the margin loss, pairs
  beyond the margin have zero gradient and score exactly 0.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from influence.config import DEFAULT_MEASUREMENT, MEASUREMENTS, InfluenceConfig
from losses import PairLoss, loss_from_config
from losses.config import DEFAULT_LOSS_TYPE
from torch.nn import functional as F

from tracin import CheckpointSpec, PairSet
from tracin.engine import Derivative
from tracin.reference import ReferenceCheckpoint
from training.records import CheckpointRecord

log = logging.getLogger(__name__)


@dataclass
class LossSettings:
    """The loss TracIn differentiates: from the checkpoints unless a flag overrides it."""

    loss_type: str
    config: dict[str, Any]
    use_saved_state: bool


def resolve_loss_settings(ckpt: CheckpointRecord, cfg: InfluenceConfig) -> LossSettings:
    """Read the loss from a checkpoint and apply the flags' overrides, warning once for each."""
    saved_type = ckpt.saved_loss_type or DEFAULT_LOSS_TYPE
    loss_type, config = saved_type, dict(ckpt.loss_config)
    if cfg.loss_type is not None and cfg.loss_type != saved_type:
        log.warning("--loss-type %s overrides the checkpoints' %s", cfg.loss_type, saved_type)
        loss_type, config = cfg.loss_type, {}
    flags = {"standard": {"margin": cfg.margin}, "ghm": {"bins": cfg.ghm_bins, "alpha": cfg.ghm_alpha}}[loss_type]
    for key, value in flags.items():
        if value is not None and config.get(key) != value:
            flag = key if key == "margin" else f"ghm-{key}"
            log.warning("--%s overrides the checkpoints' value: %s -> %s", flag, config.get(key, "(default)"), value)
            config[key] = value
    # Saved GHM densities only fit the loss they were accumulated for.
    same = loss_type == saved_type and config.get("bins") == ckpt.loss_config.get("bins")
    return LossSettings(loss_type, config, use_saved_state=same)


def loss_for_checkpoint(ckpt: CheckpointRecord, settings: LossSettings) -> PairLoss:
    """The loss of `settings` with the checkpoint's saved running state (GHM densities) when it fits."""
    loss = loss_from_config(settings.loss_type, settings.config)
    if settings.use_saved_state and ckpt.loss_state:
        loss.load_state_dict(ckpt.loss_state)
    return loss


def _check_measurement(measurement: str) -> None:
    if measurement not in MEASUREMENTS:
        raise ValueError(f"unknown measurement {measurement!r}: choose one of {', '.join(MEASUREMENTS)}")


def measurement_derivative(measurement: str, loss: PairLoss) -> Derivative:
    """d L_q / d s_q of the validation measurement. (margins (Q,), targets (Q,)) -> (Q,)."""
    _check_measurement(measurement)
    if measurement == "margin":
        return lambda m, t: -t
    if measurement == "logistic":
        return lambda m, t: -t * torch.sigmoid(-t * m)
    return lambda m, t: loss.margin_derivative(m, t, weighted=False)


def measurement_value(measurement: str, loss: PairLoss, margins: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The measurement itself, per pair, differentiable (the brute-force reference differentiates it). (Q,) -> (Q,)."""
    _check_measurement(measurement)
    if measurement == "margin":
        return -targets * margins
    if measurement == "logistic":
        return F.softplus(-targets * margins)
    return loss.base_losses(margins, targets)


def checkpoint_spec(
    state: Mapping[str, torch.Tensor], eta: float, loss: PairLoss, name: str = "", measurement: str = DEFAULT_MEASUREMENT
) -> CheckpointSpec:
    """Engine input: training pairs use the weighted training loss, test pairs the measurement."""
    return CheckpointSpec(
        state=state,
        eta=eta,
        train_derivative=lambda m, t: loss.margin_derivative(m, t, weighted=True),
        test_derivative=measurement_derivative(measurement, loss),
        name=name,
    )


def reference_checkpoint(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    eta: float,
    loss: PairLoss,
    inputs: torch.Tensor,
    train: PairSet,
    measurement: str = DEFAULT_MEASUREMENT,
) -> ReferenceCheckpoint:
    """Reference input: per-pair losses whose (detached) weights are those over the whole training set."""
    model.load_state_dict(state)
    model.eval()
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        scores = model(inputs.to(dtype))
    targets = train.targets.to(dtype)
    weights = loss.weights(scores[train.pairs[:, 0]] - scores[train.pairs[:, 1]], targets)
    return ReferenceCheckpoint(
        state=state,
        eta=eta,
        train_pair_loss=lambda p, m, y: weights[p] * loss.base_losses(m.reshape(1), y.reshape(1))[0],
        test_pair_loss=lambda p, m, y: measurement_value(measurement, loss, m.reshape(1), y.reshape(1))[0],
    )
