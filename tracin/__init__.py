"""Exact TracInCP for pairwise losses from per-example gradients (no audio knowledge here)."""
from tracin.engine import CheckpointSpec, CheckpointTerms, PairSet, TracInEngine
from tracin.gradients import per_example_gradients, trainable_parameters

__all__ = ["CheckpointSpec", "CheckpointTerms", "PairSet", "TracInEngine", "per_example_gradients", "trainable_parameters"]
