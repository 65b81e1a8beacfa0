"""Errors of the risk reports."""

from __future__ import annotations

__all__ = ["RiskError"]


class RiskError(ValueError):
    """Bad input for a risk report, or data the report needs is missing; nothing was written.

    The message says what is wrong and, where there is one, what to do about it.
    """
