"""Step 2: exact TracIn from a run's checkpoints (`compute.compute_influence`), the loss-to-engine
adapter (`task`), influence files (`io`), score statistics (`stats`) and pictures (`plots`).
`influence.config` imports no torch."""
