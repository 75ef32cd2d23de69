"""Helpers that sweep workers import (tests/test_security.py): a metrics hook that marks progress."""

import os
from pathlib import Path


def touch(result) -> dict:
    """Metrics hook of a sweep: touch the file named by DMD_TEST_MARKER once a point is solved."""
    Path(os.environ["DMD_TEST_MARKER"]).touch()
    return {}
