"""Time: the extract moment of a client and timestamps as naive UTC for arithmetic."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from cxlib.core.config import ClientConfig


def naive_utc(ts) -> pd.Timestamp:
    """A timestamp as naive UTC (tz-aware ones converted, naive ones taken as UTC)."""
    ts = pd.Timestamp(ts)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo else ts


def naive_utc_series(s: pd.Series) -> pd.Series:
    """A datetime column as naive UTC (tz-aware converted, naive taken as UTC)."""
    return s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s


def extract_time(config: ClientConfig, as_of: datetime | None = None) -> pd.Timestamp:
    """The extract moment in UTC: ``as_of`` if given, else the end of the config's
    ``as_of`` day in the client's time zone, else now. Later events are 'future'."""
    if as_of is not None:
        ts = pd.Timestamp(as_of)
    elif config.as_of is not None:
        ts = pd.Timestamp(config.as_of).tz_localize(config.timezone) + pd.Timedelta(days=1)
    else:
        ts = pd.Timestamp(datetime.now(timezone.utc))
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")
