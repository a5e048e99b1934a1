"""Step 1: training the ranker (`trainer.train`), its typed run configuration (`config.TrainConfig`),
checkpoints, metrics and training curves. `training.config` imports no torch."""
