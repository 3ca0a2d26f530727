"""Tests of trainlab.detection (a package: its test_models.py must not clash with tests/test_models.py)."""
