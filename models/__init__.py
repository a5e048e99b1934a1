"""Ranking models: spectrogram -> one score per recording."""
from models.ranker import MODEL_CLASSES, SimpleCNNAudioRanker, build_model

__all__ = ["MODEL_CLASSES", "SimpleCNNAudioRanker", "build_model"]
