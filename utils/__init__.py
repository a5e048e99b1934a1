"""Shared helpers: constants, atomic file I/O, CLI plumbing, devices, demo data."""
