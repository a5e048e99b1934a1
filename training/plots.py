"""The training curves picture of a run folder."""
from __future__ import annotations

from pathlib import Path

from utils.figures import plt, save_figure


def plot_training_curves(history: list[dict], path: str | Path, title: str) -> None:
    """Train loss and validation pairwise accuracy by epoch."""
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(epochs, [h["train_loss"] for h in history], marker=".", label="train loss")
    if all("validation_loss" in h for h in history):
        ax1.plot(epochs, [h["validation_loss"] for h in history], marker=".", label="validation loss")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("pair loss")
    ax1.legend()
    ax2.plot(epochs, [h["validation_pairwise_accuracy"] for h in history], marker=".", color="tab:green")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation pairwise accuracy")
    ax2.set_ylim(0, 1.02)
    ax2.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path)
