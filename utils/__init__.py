"""Generic plumbing every step shares: constants, atomic I/O, CLI, devices, seeding, figures.

Nothing in here imports another package of this project.
"""
