"""The loss-to-engine adapter: which loss TracIn differentiates at each checkpoint.

The engine (`tracin/`) takes loss derivatives as callables; this module builds them from
the loss a checkpoint stores (type, settings and running state such as GHM densities),
after the overrides the user asked for.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from influence.config import InfluenceConfig
from losses import PairLoss, loss_from_config
from losses.config import DEFAULT_LOSS_TYPE
from tracin import CheckpointSpec, PairSet
from tracin.reference import ReferenceCheckpoint

log = logging.getLogger(__name__)


@dataclass
class LossSettings:
    """The loss TracIn differentiates: from the checkpoints unless a flag overrides it."""

    loss_type: str
    config: dict[str, Any]
    use_saved_state: bool


def resolve_loss_settings(ckpt: Mapping[str, Any], cfg: InfluenceConfig) -> LossSettings:
    """Read the loss from a checkpoint and apply the flags' overrides, warning once for each."""
    saved_type = ckpt.get("loss_type") or ckpt.get("config", {}).get("loss_type", DEFAULT_LOSS_TYPE)
    loss_type, config = saved_type, dict(ckpt.get("loss_config") or {})
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
    same = loss_type == saved_type and config.get("bins") == (ckpt.get("loss_config") or {}).get("bins")
    return LossSettings(loss_type, config, use_saved_state=same)


def loss_for_checkpoint(ckpt: Mapping[str, Any], settings: LossSettings) -> PairLoss:
    """The loss of `settings` with the checkpoint's saved running state (GHM densities) when it fits."""
    loss = loss_from_config(settings.loss_type, settings.config)
    if settings.use_saved_state and ckpt.get("loss_state"):
        loss.load_state_dict(ckpt["loss_state"])
    return loss


def checkpoint_spec(state: Mapping[str, torch.Tensor], eta: float, loss: PairLoss, name: str = "") -> CheckpointSpec:
    """Engine input: training pairs use the weighted training loss, test pairs the plain loss."""
    return CheckpointSpec(
        state=state,
        eta=eta,
        train_derivative=lambda m, t: loss.margin_derivative(m, t, weighted=True),
        test_derivative=lambda m, t: loss.margin_derivative(m, t, weighted=False),
        name=name,
    )


def reference_checkpoint(
    model: nn.Module, state: Mapping[str, torch.Tensor], eta: float, loss: PairLoss, inputs: torch.Tensor, train: PairSet
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
        test_pair_loss=lambda p, m, y: loss.base_losses(m.reshape(1), y.reshape(1))[0],
    )
