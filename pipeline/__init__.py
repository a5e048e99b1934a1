"""The end-to-end demo: planted faults, the tutorial's three steps, controls and an honest report."""
