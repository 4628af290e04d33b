"""A dated table to checked float64 columns: sorted unique dates, no gaps, no holes.

Column names match exactly, or ignoring case when exactly one column does; two names
of one column are refused.

Every problem is either an error that names the column, how many rows and the fix, or
(with `missing="ffill"`) a repair that is counted and reported. Nothing is dropped.

Gaps: a spacing between consecutive dates larger than `max_gap` times the median
spacing (daily trading data has weekends of 3x and rare closures up to 7x). With
"ffill" a gap is closed by rows at the median spacing carrying the last values.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from fjax.data.checks import DataSettingError, first_unscalable
from fjax.data.columns import did_you_mean, resolve_column
from fjax.datasets import read_dates, writes_offset, zoned

MISSING = ("error", "ffill")


@dataclass(frozen=True)
class Series:
    """Columns `f64[n, C]` in time order, with what was repaired."""

    dates: np.ndarray                 # datetime64[ns][n], or int64 row numbers
    values: np.ndarray                # f64[n, C]; column 0 is the target
    columns: tuple[str, ...]
    filled: dict = field(default_factory=dict)   # column -> values forward-filled
    inserted_rows: int = 0            # rows added to close date gaps
    holes: np.ndarray | None = None   # bool[n, C]: each column's value was not observed
                                      # (inserted or forward-filled); None: every one was
    utc: bool = False                 # dates are UTC (mixed offsets, unix times), not the
                                      # file's wall-clock times
    offset: int | None = None         # seconds east of UTC of the one offset every time
                                      # was written with (its clock kept); None: none

    @property
    def n(self) -> int:
        return self.values.shape[0]

    @property
    def made(self) -> np.ndarray | None:
        """`bool[n]`: the target was not observed (inserted or forward-filled); None:
        every one was."""
        if self.holes is None or not self.holes[:, 0].any():
            return None
        return self.holes[:, 0]


def file_row(df: pd.DataFrame, i: int, date_column: str | None = None) -> str:
    """Row `i` of the file as a message names it: with its date as the file writes it."""
    if date_column is None:
        return f"row {i}"
    return f"row {i} ({date_column} {str(df[date_column].iloc[i])!r})"


def numeric_column(df: pd.DataFrame, column: str, source: str,
                   date_column: str | None = None) -> np.ndarray:
    """Column as float64; non-numeric entries raise naming the first one (its row in
    the file and, with `date_column`, its date)."""
    if column not in df.columns:
        raise DataSettingError(
            f"{source} has no column {column!r}"
            f"{did_you_mean([column], df.columns)}; columns are "
            f"{list(df.columns)}; choose one with --data.target / --data.features")
    raw = df[column]
    if pd.api.types.is_bool_dtype(raw):
        raise DataSettingError(f"column {column!r} of {source} is boolean (True/False), not a "
                               "numeric series; write it as 1/0 and give it the transform level "
                               "(--data.feature-transforms), or leave it out of --data.features")
    values = pd.to_numeric(raw, errors="coerce")
    bad = np.nonzero(values.isna().to_numpy() & raw.notna().to_numpy())[0]
    if len(bad):
        raise ValueError(
            f"column {column!r} of {source} is not numeric: {len(bad)} entries cannot be "
            f"read as numbers (first at {file_row(df, bad[0], date_column)}: "
            f"{raw.iloc[bad[0]]!r}); clean the "
            "column (e.g. remove thousands separators or currency signs) or pick another")
    out = values.to_numpy(dtype=np.float64)
    inf = np.nonzero(np.isinf(out))[0]
    if len(inf):
        raise ValueError(f"column {column!r} of {source} has {len(inf)} infinite values "
                         f"(first at {file_row(df, inf[0], date_column)}); remove or replace "
                         "them")
    row = first_unscalable(out)
    if row is not None:
        raise ValueError(f"column {column!r} of {source} holds {out[row]:g} at "
                         f"{file_row(df, row, date_column)}, beyond what float32 training "
                         "can scale; rescale the column or fix the value")
    return out


def _day(d: np.datetime64) -> str:
    return str(pd.Timestamp(d))


DST_NOTE = ("; if these are local times, clocks repeat an hour where daylight saving time "
            "ends (02:00 twice in Berlin on 2024-10-27), and that repeated hour holds real "
            "rows: write each time with its UTC offset (2024-10-27T02:00:00+02:00, then "
            "2024-10-27T02:00:00+01:00) or in UTC instead of dropping one")


def dst_note(dates: np.ndarray) -> str:
    """`DST_NOTE` for intraday dates (rows under a day apart), else ""."""
    if len(dates) < 2 or median_spacing(dates) >= 86_400 * 10**9:
        return ""
    return DST_NOTE


def written_offsets(column: pd.Series) -> bool:
    """Whether the times carry their UTC offsets (a time zone, or +00:00 written after
    them): a repeated one is then the same instant twice, never a daylight-saving hour."""
    return zoned(column) or bool(writes_offset(column.dropna()).any())


def checked_dates(df: pd.DataFrame, column: str, source: str
                  ) -> tuple[np.ndarray, bool, bool, int | None]:
    """(parsed, strictly increasing dates, whether the file runs newest first: then they
    are its dates reversed, as many exchanges export them, whether they are UTC, and the
    one UTC offset their clocks are written with: `read_dates`); raises on unparseable,
    unsorted or repeated ones."""
    if column not in df.columns:
        raise DataSettingError(f"{source} has no date column {column!r}"
                               f"{did_you_mean([column], df.columns)}; columns are "
                               f"{list(df.columns)}; pass --data.date-column NAME, or None to "
                               "use the row order")
    read = read_dates(df[column], f"date column {column!r} of {source}",
                      fix=", or pass --data.date-column None to use the row order",
                      error=DataSettingError)
    dates, utc = read.dates, read.utc
    missing = np.nonzero(dates.isna().to_numpy())[0]
    if len(missing):
        raise ValueError(f"date column {column!r} of {source} has {len(missing)} missing "
                         f"dates (first at row {missing[0]}); every row needs a date")
    d = dates.to_numpy(dtype="datetime64[ns]")
    newest_first = len(d) > 1 and d[0] > d[-1] and bool(np.all(d[1:] <= d[:-1]))
    if newest_first:
        d = d[::-1].copy()
    step = np.diff(d)
    back = np.nonzero(step < np.timedelta64(0, "ns"))[0]
    if len(back):
        i = back[0] + 1
        raise ValueError(f"date column {column!r} of {source} is not sorted: {len(back)} rows "
                         f"go back in time (first at row {i}: {_day(d[i])} after "
                         f"{_day(d[i - 1])}); sort the file by {column!r} first")
    dup = np.nonzero(step == np.timedelta64(0, "ns"))[0]
    if len(dup):
        i = dup[0] + 1
        rows = sorted((len(d) - 1 - i, len(d) - i) if newest_first else (i - 1, i))
        raise ValueError(f"date column {column!r} of {source} has {len(dup)} duplicate dates "
                         f"(first {_day(d[i])} at rows {rows[0]} and {rows[1]}); keep one "
                         "row per date" + ("" if utc or written_offsets(df[column])
                                           else dst_note(d)))
    return d, newest_first, utc, read.offset


def duration_text(nanoseconds: int) -> str:
    """A spacing as a reader says it ("1 day", "4 hours", "2 days 6 hours"), not pandas'
    "1 days 00:00:00"; pandas' text where it has fractions of a second."""
    delta = pd.Timedelta(int(nanoseconds))
    parts = delta.components
    if parts.milliseconds or parts.microseconds or parts.nanoseconds or not delta:
        return str(delta)
    units = ((parts.days, "day"), (parts.hours, "hour"), (parts.minutes, "minute"),
             (parts.seconds, "second"))
    return " ".join(f"{n} {unit}{'' if n == 1 else 's'}" for n, unit in units if n)


def median_spacing(dates: np.ndarray) -> int:
    """Nanoseconds between consecutive dates, the median over the series."""
    return int(np.median(np.diff(dates.astype("datetime64[ns]")).astype(np.int64)))


def close_gaps(dates: np.ndarray, values: np.ndarray, max_gap: float, missing: str,
               column: str, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find spacings > max_gap x median; error, or insert rows carrying the last values.
    Returns the dates, the values and bool[n]: which rows were inserted."""
    if len(dates) < 3:
        return dates, values, np.zeros(len(dates), bool)
    step = np.diff(dates)
    median = median_spacing(dates)
    gaps = np.nonzero(step.astype(np.int64) > max_gap * median)[0]
    if not len(gaps):
        return dates, values, np.zeros(len(dates), bool)
    if missing == "error":
        i = gaps[0]
        raise DataSettingError(
            f"date column {column!r} of {source} has {len(gaps)} gaps longer than "
            f"{max_gap:g} x the median spacing ({duration_text(median)}); first from "
            f"{_day(dates[i])} to {_day(dates[i + 1])}; allow them with a larger "
            "--data.max-gap (nights, weekends and holidays of market-hours data), fill them "
            "with --data.missing ffill (filled prices are never scored), or resample the "
            "file")
    out_d, out_v, start = [], [], 0
    for i in gaps:
        out_d.append(dates[start:i + 1])
        out_v.append(values[start:i + 1])
        count = int(np.ceil(step[i].astype(np.int64) / median)) - 1
        out_d.append(dates[i] + np.arange(1, count + 1) * np.timedelta64(int(median), "ns"))
        out_v.append(np.repeat(values[i:i + 1], count, axis=0))
        start = i + 1
    out_d.append(dates[start:])
    out_v.append(values[start:])
    filled = np.concatenate(out_d)   # inserted dates lie strictly inside the gaps
    return filled, np.concatenate(out_v), ~np.isin(filled, dates)


def fill_missing(values: np.ndarray, columns: Sequence[str], missing: str, source: str,
                 dates: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Count NaNs per column; error naming them (by date where there are dates: rows in
    time order need not be the file's), or forward-fill (never the earliest rows)."""
    counts = {c: int(np.isnan(values[:, j]).sum()) for j, c in enumerate(columns)}
    holes = {c: k for c, k in counts.items() if k}
    if not holes:
        return values, {}

    def at(i: int) -> str:
        return f"row {i}" if dates is None else _day(dates[i])

    described = ", ".join(f"{c!r}: {k}" for c, k in holes.items())
    lead = [c for j, c in enumerate(columns) if np.isnan(values[0, j])]
    if missing == "error" and not lead:
        first = ", ".join(f"{c!r} at {at(np.flatnonzero(np.isnan(values[:, columns.index(c)]))[0])}"
                          for c in holes)
        raise DataSettingError(f"{source} has missing values ({described}; first: {first}); "
                               "forward-fill them with --data.missing ffill or clean the file")
    filled = pd.DataFrame(values).ffill().to_numpy()
    if lead:   # an indicator's warm-up: no earlier value to carry forward
        raise ValueError(f"{source}: column(s) {lead} are missing at the earliest "
                         f"{'date' if dates is not None else 'row'} ({at(0)}) and after it, "
                         "which forward-fill cannot fill; drop those earliest rows from the "
                         "file")
    return filled, holes


def resolved_columns(df: pd.DataFrame, names: Sequence[str], source: str) -> tuple[str, ...]:
    """Each configured name as the file spells it (`resolve_column`); raises when two
    names, the target's first, resolve to one column: it would be fed twice, once under
    each spelling ("close" as a feature next to the target "Close")."""
    columns = tuple(resolve_column(df, c) for c in names)
    for j, column in enumerate(columns):
        i = columns.index(column)
        if i == j:
            continue
        what = (f"the target {names[0]!r}" if i == 0 else f"the feature {names[i]!r}")
        raise DataSettingError(f"the feature {names[j]!r} and {what} both name column {column!r} "
                               f"of {source} (names match ignoring case); list each column once "
                               "in --data.features, and never the target, which is always an input")
    return columns


def load_series(df: pd.DataFrame, columns: Sequence[str], *, date_column: str | None,
                missing: str = "error", max_gap: float = 7.0, source: str = "data") -> Series:
    """Checked float64 columns of `df` in time order (column 0 is the target)."""
    if missing not in MISSING:
        raise ValueError(f"unknown missing-value policy {missing!r}; choose one of {MISSING}")
    columns = resolved_columns(df, columns, source)
    if date_column is not None:
        date_column = resolve_column(df, date_column)
    named = date_column if date_column in df.columns else None   # else refused below
    values = np.stack([numeric_column(df, c, source, named) for c in columns], axis=1)
    utc, offset = False, None
    if date_column is None:
        dates = np.arange(len(df), dtype=np.int64)
        inserted = np.zeros(len(df), bool)
    else:
        dates, newest_first, utc, offset = checked_dates(df, date_column, source)
        if newest_first:
            warnings.warn(f"the rows of {source} run newest first; they are read oldest "
                          "first", stacklevel=2)
            values = values[::-1].copy()
        dates, values, inserted = close_gaps(dates, values, max_gap, missing, date_column, source)
    unobserved = inserted[:, None] | np.isnan(values)   # each column's, before filling
    values, filled = fill_missing(values, list(columns), missing, source,
                                  None if date_column is None else dates)
    return Series(dates=dates, values=values, columns=columns, filled=filled,
                  inserted_rows=int(inserted.sum()),
                  holes=unobserved if unobserved.any() else None, utc=utc,
                  offset=offset)
