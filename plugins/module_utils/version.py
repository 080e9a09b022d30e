"""The detector's version, reported by ``--version`` and checked by the compliance playbook."""

from __future__ import annotations

__version__ = "1.0.0"
