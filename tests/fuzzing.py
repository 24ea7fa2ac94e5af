"""What every fuzz suite here shares: hypothesis made deterministic and quick."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, settings


def fuzz_settings(max_examples: int) -> settings:
    """Seeded from the test itself (the same examples every run), no example database,
    and a few seconds at most per example: a slower one is a failure to look at."""
    return settings(
        derandomize=True,
        database=None,
        max_examples=max_examples,
        deadline=timedelta(seconds=3),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
