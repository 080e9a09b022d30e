"""Fixtures of the plugin tests; the helpers live in tests/helpers/plugin_helpers.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from plugin_helpers import Detector, attack_log


@pytest.fixture
def detector(tmp_path: Path) -> Detector:
    """A scanned detector: ATTACKER banned (in the state; monitor mode), PROBER watched, INSIDER ignored."""
    det = Detector(tmp_path)
    det.scan(attack_log(time.time()))
    return det


@pytest.fixture
def empty_detector(tmp_path: Path) -> Detector:
    return Detector(tmp_path)
