"""The error every metric raises for inputs it cannot score."""

from gan_core.stats import StatisticsError

MetricError = StatisticsError
"""Inputs a metric cannot score (too few images, mismatched pairs, non-finite values): a ``ValueError``
whose message says what was wrong and what to do. The same class as ``gan_core.stats.StatisticsError``,
so callers catch one type for statistics and metrics."""
