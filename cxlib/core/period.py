"""The period a count or an amount of money is over. Figures are annualised ("a year") only
when the data cover at least a minimum span (default 8 weeks); a shorter extract states its
figures over the days observed, and an annualised figure from less than a year says it was
extrapolated.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

DAYS_A_YEAR = 365.25


@dataclass(frozen=True)
class Period:
    """``days`` observed; ``min_days`` below which nothing is annualised."""
    days: float
    min_days: float = 56.0

    @property
    def annualised(self) -> bool:
        return self.days >= self.min_days

    @property
    def factor(self) -> float:
        """What a count over the period is multiplied by to give the figure per :attr:`label`."""
        return DAYS_A_YEAR / max(self.days, 1.0) if self.annualised else 1.0

    @property
    def label(self) -> str:
        """'a year', or 'over the 2 days observed'."""
        return "a year" if self.annualised else f"over the {self.days:,.0f} days observed"

    def note(self) -> str | None:
        """One sentence for the reader when the figures are extrapolated or not annualised."""
        if not self.annualised:
            return (f"the data cover {self.days:,.1f} days, fewer than the {self.min_days:,.0f} needed to state figures "
                    "a year, so counts and money are over the days observed")
        if self.days < DAYS_A_YEAR - 1:
            return f"figures a year are extrapolated from the {self.days:,.0f} days the data cover"
        return None


def measure_period(timestamps: pd.Series, *, min_days: float = 56.0) -> Period:
    """The span of ``timestamps`` (first to last, in days) as a :class:`Period`."""
    t = pd.to_datetime(pd.Series(timestamps)).dropna()
    days = (t.max() - t.min()).total_seconds() / 86400 if len(t) else 0.0
    return Period(days=days, min_days=min_days)
