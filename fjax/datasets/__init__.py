"""Embedded datasets, and users' own files through the same function.

    load_dataset("sp500")          # S&P 500 daily prices, 1999-2018 (Yahoo! Finance via arch)
    load_dataset("german_credit")  # Statlog German credit, 1,000 applicants (UCI, CC BY 4.0)
    load_dataset("my_prices.csv", date_column="Date")

Attribution and licences: DATA_LICENSES.md next to this file.
"""

from __future__ import annotations

import functools
import gzip
import io
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).parent / "data"
DATASETS = {
    "sp500": "sp500.csv.gz",
    "german_credit": "germancredit.csv",
}
GERMAN_NUMERIC = (
    "duration_in_month", "credit_amount", "installment_rate_in_percentage_of_disposable_income",
    "present_residence_since", "age_in_years", "number_of_existing_credits_at_this_bank",
    "number_of_people_being_liable_to_provide_maintenance_for",
)


def holds_numbers(column: pd.Series) -> bool:
    """A column of numbers where dates belong: pandas would read them as nanoseconds
    since 1970. An empty column, or booleans, are left to the date checks."""
    return (pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
            and bool(column.notna().any()))


UNIX_UNITS = {"s": (1e8, 4.1e9), "ms": (1e11, 4.1e12)}   # 1973-03 to 2099, as numbers


# Pieces of the date patterns below, so that they read the same shapes.
DATE = r"(?P<first>\d{1,2})(?P<sep>[/.-])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4})"  # 13/01/2015
CLOCK = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"   # a clock time: 8:15, 08:15:00.5
ZONE = r"(?:UTC|GMT)"
OFFSET = r"(?:Z|" + ZONE + r"|[+-]\d{2}(?::?\d{2})?)"   # Z, UTC, GMT, +01, -0500, +01:00

SLASHED = re.compile(r"^\s*" + DATE + r"(?!\d)")                     # 13/01/2015, 1.2.2015
WRITTEN_OFFSET = re.compile(r"^(.*" + CLOCK + r")\s*" + OFFSET + r"\s*$",   # a time, then its
                            re.IGNORECASE)                                  # offset (-05:00, Z)
ZONE_NAME = re.compile("(" + CLOCK + r")\s*" + ZONE + r"\s*$", re.IGNORECASE)
SLASHED_DATE_TIME = re.compile(         # a date, then a time, then AM/PM or an offset, or neither
    r"\s*" + DATE + r"(?:(?:\s+|T)" + CLOCK + r"(?:\s*[AP]M|\s*" + OFFSET + r")?)?\s*",
    re.IGNORECASE)


def yyyymmdd(column: pd.Series) -> pd.Series | None:
    """Numbers such as 20150102 as the dates they spell, when every one is a valid
    yyyymmdd date from 1900 to 2100; else None."""
    present = column.dropna().to_numpy(float)
    if not np.all((present >= 1900_01_01) & (present <= 2100_12_31)
                  & (present == np.round(present))):
        return None
    text = column.astype("Int64").astype("string")
    dates = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    return None if dates.isna().sum() != column.isna().sum() else dates


def day_first(column: pd.Series, described: str, fix: str = "",
              error: type[ValueError] = ValueError) -> bool | None:
    """Whether dates written d/m/yyyy or m/d/yyyy put the day first: True when a first
    field is over 12 (13/01/2015), False when a second one is (01/13/2015), None when
    the column is not written so. Raises when neither shows which, since every date
    would read either way (02/01/2015), or when both do (rows disagree): an `error`."""
    text = column.dropna().astype(str)
    if text.empty or not SLASHED.match(text.iloc[0]):   # before the slow match of every row
        return None
    parts = text.str.extract(SLASHED)
    if parts["first"].isna().any():
        return None
    first, second = (parts[k].astype(int) > 12 for k in ("first", "second"))
    if first.any() != second.any():
        return bool(first.any())
    how = (f"mixes day-first and month-first dates ({text[first].iloc[0]!r}, "
           f"{text[second].iloc[0]!r})" if first.any() else
           f"has no day over 12, so each date reads as day/month or as month/day (e.g. "
           f"{text.iloc[0]!r})")
    raise error(f"{described} {how}; write dates as ISO 8601, YYYY-MM-DD (such as "
                     f"2015-01-02 or 2015-01-02 08:15:00){fix}")


def _reason(err: Exception) -> str:
    """pandas' parse error without its advice on `format=` arguments, which fjax's
    readers do not take, and without the position pandas 2 adds (its row among the
    present values), so every pandas gives the same message."""
    return re.sub(r", at position \d+", "", str(err).split(". You might want")[0].split("\n")[0])


def _to_datetime_one_offset(column: pd.Series, **kw) -> pd.Series:
    """`pd.to_datetime`, refusing several UTC offsets without `utc=True` on every pandas
    (pandas 2 gave objects; its callers catch the refusal, and `read_dates` then reads
    with `utc=True`, so no message quotes it), without pandas' warning to pass
    `dayfirst=`, which fjax sets itself (`day_first`) and its readers do not take."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Parsing dates in", UserWarning)
        warnings.filterwarnings("ignore", ".*mixed time zones", FutureWarning)
        dates = pd.to_datetime(column, **kw)
    if dates.dtype == object:
        raise ValueError("several UTC offsets")
    return dates


def parse_dates(column: pd.Series, described: str, fix: str = "") -> pd.Series:
    """`column` as naive datetimes (`read_dates` without its UTC flag)."""
    return read_dates(column, described, fix).dates


class Dates(NamedTuple):
    """A date column as `read_dates` reads it, parsed once for all its callers."""

    dates: pd.Series            # naive datetimes
    utc: bool                   # UTC, not the file's own wall-clock times
    offsets: np.ndarray | None  # i64[n] seconds from each UTC time to its written clock,
    # where several offsets are written and read back (`_offsets`); else None
    offset: int | None = None   # seconds east of UTC of the one offset that every time is
    # written with (or its zone has throughout), where `dates` are those clocks; else None
    instants: pd.Series | None = None   # naive UTC instants of times written with offsets
    # (text without one as UTC) or a zone, where `dates` are their clocks; else None


def read_dates(column: pd.Series, described: str, fix: str = "",
               local_days: str = "write local times without offsets",
               error: type[ValueError] = ValueError) -> Dates:
    """`Dates`: `column` as naive datetimes, whether they are UTC rather than the file's own
    wall-clock times (so outputs can say so), the offsets of their written clocks from
    those UTC times, and the one UTC offset of times kept on their written clock (so
    outputs can name it); `described` names it in messages ("column
    'Date' of my.csv"), and `fix` adds a caller's own remedy to them. Times written with one UTC
    offset keep their wall-clock times, so days are the data's own. Several offsets (a
    daylight-saving change, or times with and without one) are read as UTC, with a
    warning that says how to count local days instead (`local_days`, the caller's way):
    wall-clock times would repeat or skip an hour; where every time is midnight by its
    written offset (a daily series), each keeps its written date. A column with a time
    zone reads as its times written with their offsets would (`_zoned_dates`). Dates
    written d/m/yyyy or m/d/yyyy are read by whichever field goes over 12 (`day_first`),
    and refused when none does. Numbers are unix times in seconds or milliseconds (UTC)
    when every one is a whole number of that range (1973 to 2099: exchange exports),
    dates when every one spells one as yyyymmdd (20150102, `yyyymmdd`); any other
    numbers are refused, not read as nanoseconds. Refusals are an `error` (a
    `DataSettingError` where `fix` names a data setting)."""
    if zoned(column):
        return _zoned_dates(column, described, local_days)
    if holds_numbers(column):
        if (days := yyyymmdd(column)) is not None:
            return Dates(days, False, None)
        present = column.dropna().to_numpy(float)
        unit = next((u for u, (lo, hi) in UNIX_UNITS.items()
                     if np.all((present >= lo) & (present < hi) & (present == np.round(present)))),
                    None)
        if unit is None:
            raise error(f"{described} holds numbers, not dates (e.g. "
                        f"{column.dropna().iloc[0]}); write dates such as 2020-01-31 "
                        "08:15:00, yyyymmdd numbers (20200131) or unix times in whole "
                        f"seconds or milliseconds from 1973 to 2099{fix}")
        return Dates(pd.to_datetime(column, unit=unit), True, None)   # unix times: no offset
    first = bool(day_first(column, described, fix, error))
    texts = pd.api.types.infer_dtype(column, skipna=True) == "string"
    renamed = _zone_names_as_offsets(column, texts)
    # pandas infers a format from the first time: where it ends in GMT or UTC, before 3.1
    # one that reads the name as literal text (naive times), on 3.1 none for utc
    named = texts and ZONE_NAME.search(column.dropna().iloc[0])
    text = renamed() if named else column
    try:
        dates = _to_datetime_one_offset(text, dayfirst=first)
    except (ValueError, TypeError) as err:
        # each pattern reads the column once: its offsets here, its shapes when needed
        # (GMT written as +00:00 in `text` changes neither)
        written, bare = _split_offsets(column)
        slashed = _slashed(column)
        try:   # several offsets
            dates = _as_utc(text, first, written, slashed, renamed)
        except (ValueError, TypeError):
            where = _first_unparseable(column, first) or _reason(err)
            raise error(f"{described} is not parseable as dates ({where}); write "
                        f"dates such as 2020-01-31 or 2020-01-31 08:15:00{fix}") from None
        clocks = _written_clocks(bare, first, slashed)
        if clocks is not None and (midnights(clocks)
                                   or _one_clock(written[column.notna()], clocks, dates)):
            # a daily series (each row's written date, as for a zone), or formats that
            # vary from row to row on one clock
            instants = dates.dt.tz_localize(None) if written.any() else None
            offset = None if instants is None else _one_offset(clocks, instants)
            return Dates(clocks, False, None, offset, instants)
        _warn_mixed_offsets(described, local_days)
        utc = dates.dt.tz_localize(None)
        return Dates(utc, True, _offsets(clocks, utc))
    if dates.dt.tz is None:
        return Dates(dates, False, None)
    wall = dates.dt.tz_localize(None)
    if not writes_offset(column).any():   # not GMT+1 (pandas: -01:00)
        return Dates(wall, False, None)
    instants = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    return Dates(wall, False, None, _one_offset(wall, instants), instants)


def _one_offset(wall: pd.Series, instants: pd.Series) -> int | None:
    """Seconds east of UTC where each time of `wall` is its UTC instant plus one offset;
    None where they differ by several (daily midnights across a daylight-saving change)."""
    offsets = (wall - instants).dropna().unique()
    return int(offsets[0] // pd.Timedelta(seconds=1)) if len(offsets) == 1 else None


def _one_clock(written: pd.Series, clocks: pd.Series, utc: pd.Series) -> bool:
    """Whether a text column's times (`written`: `writes_offset` of its present ones; its
    `clocks` as written, `utc` as read) write no UTC offset, or one on every row: pandas
    refuses formats that vary from row to row (08:15:00 then 10:00), which are still one
    clock, not a mix of offsets."""
    if (clocks - utc.dt.tz_localize(None)).nunique() > 1:
        return False
    return _on_all_or_none(written)   # 08:15 among 09:30Z: a mix


def _on_all_or_none(written: pd.Series) -> bool:
    """Whether `written` (`writes_offset` of a column's times) is true of every time or
    of none."""
    return bool(written.all() or not written.any())


def _warn_mixed_offsets(described: str, local_days: str) -> None:
    warnings.warn(f"{described} mixes UTC offsets (or times with and without one); read "
                  "them as UTC, so days run from midnight UTC; to count local days, "
                  f"{local_days}", stacklevel=4)


def zoned(column: pd.Series) -> bool:
    """A column of times with a time zone (Parquet, feather, a DataFrame's own)."""
    return isinstance(column.dtype, pd.DatetimeTZDtype)


def _zoned_dates(column: pd.Series, described: str, local_days: str) -> Dates:
    """`read_dates` of a `zoned` column, as the same times written with their offsets would
    read: local times where one offset runs through it, or where every time is midnight
    (a daily series: its own days), else UTC instants (the zone's clock repeats an hour)."""
    wall = column.dt.tz_localize(None)
    instants = column.dt.tz_convert("UTC").dt.tz_localize(None)
    if (wall - instants).nunique() <= 1 or midnights(wall):
        return Dates(wall, False, None, _one_offset(wall, instants), instants)
    _warn_mixed_offsets(described, local_days)
    return Dates(instants, True, (wall - instants).dt.total_seconds().to_numpy().astype(np.int64))


def midnights(wall: pd.Series) -> bool:
    """Whether every time of `wall` (missing ones aside) is midnight: a daily series."""
    present = wall.dropna()
    return bool((present == present.dt.normalize()).all())


def writes_offset(column: pd.Series) -> pd.Series:
    """bool per row of text `column`: whether it writes a UTC offset (-05:00, Z, GMT) after
    its time; missing rows do not."""
    return column.astype(str).str.match(WRITTEN_OFFSET)


def _split_offsets(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`writes_offset(column)`, and text `column`'s times without their written offsets
    (missing rows missing), from one pass of the pattern."""
    text = column.astype(str)
    bare = text.str.extract(WRITTEN_OFFSET, expand=False)
    written = bare.notna()
    return written, bare.where(written, text).where(column.notna())


def _offsets(wall: pd.Series | None, utc: pd.Series) -> np.ndarray | None:
    """i64[n]: seconds from each UTC time `utc` (`read_dates` of text with several offsets)
    to its wall-clock time `wall` as written (`_written_clocks`; 0 where no offset is
    written: such times were read as UTC). None when the times without their offsets do
    not read back, so that clocks stay UTC."""
    if wall is None or wall.isna().any():
        return None
    offsets = (wall - utc).dt.total_seconds().to_numpy()
    if not np.all((np.abs(offsets) < 86_400) & (offsets % 60 == 0)):
        return None
    return offsets.astype(np.int64)


def _written_clocks(bare: pd.Series, first: bool,
                    slashed: Callable[[], bool]) -> pd.Series | None:
    """A text column's times as written, from `bare`: each without its UTC offset, missing
    where the column is (`_split_offsets`; `first`: day-first dates; `slashed`:
    `_varying_formats`'); None when they do not read back without their offsets."""
    try:
        wall = _to_datetime_one_offset(bare, dayfirst=first)
    except (ValueError, TypeError):
        try:
            wall = _varying_formats(bare, slashed, first)
        except (ValueError, TypeError):
            return None
    return None if wall.dt.tz is not None or (wall.isna() & bare.notna()).any() else wall


def without_offsets(column: pd.Series, read: Dates, described: str = "") -> pd.Series:
    """The times of text `column` that write no UTC offset (its other rows missing), as
    written: with offsets on some rows, those are wall clocks rather than UTC. They come
    from `read` (its `read_dates`), which holds every row's written clock, not a new parse."""
    if not read.utc:
        clocks = read.dates
    elif read.offsets is not None:
        clocks = read.dates + pd.to_timedelta(read.offsets, unit="s")
    else:
        raise ValueError(f"{described} writes times whose UTC offsets do not come off as "
                         "dates; write dates such as 2020-01-31 08:15:00 or "
                         "2020-01-31 08:15:00-05:00")
    return clocks.where(~writes_offset(column))


def _as_utc(column: pd.Series, first: bool, written: pd.Series,
            slashed: Callable[[], bool], renamed: Callable[[], pd.Series]) -> pd.Series:
    """Text `column` as UTC times, each by its own written offset (`first`: day-first
    dates; `written`: `writes_offset(column)`); in formats that vary by row
    (`_varying_formats`, `slashed` its test of `column`), read from `renamed()` (its zone
    names as offsets) where pandas' inference fails, also times with and without one,
    those apart (pandas 2 gives a time without one the last offset it read)."""
    try:
        return _to_datetime_one_offset(column, utc=True, dayfirst=first)
    except (ValueError, TypeError):
        text = renamed()
        if _on_all_or_none(written[column.notna()]):
            return _varying_formats(text, slashed, first, utc=True)
        with_offset, without = (_varying_formats(text.where(rows), slashed, first, utc=True)
                                for rows in (written, ~written))
        return with_offset.where(written, without)


def _varying_formats(text: pd.Series, slashed: Callable[[], bool], first: bool,
                     **kw) -> pd.Series:
    """Text `text` in formats that vary from row to row, which pandas' inferred format
    refuses: ISO 8601, or each row on its own where its column writes every time d/m/yyyy
    or m/d/yyyy, with an optional time and offset (`slashed()`: `_slashed` of the column),
    which ISO 8601 reads none of (day first where `first`: pandas' "mixed" honours it on
    every row, so 03/04 is 3 April among 13/01; only those shapes, since "mixed" would
    read anything dateutil guesses, such as "14/01/2024 2025" as 20:25)."""
    if slashed():
        return _to_datetime_one_offset(text, format="mixed", dayfirst=first, **kw)
    return pd.to_datetime(text, format="ISO8601", **kw)


def _slashed(column: pd.Series) -> Callable[[], bool]:
    """Whether text `column` writes every time as `SLASHED_DATE_TIME` (missing ones aside),
    as a test run once, when a reader first needs it (`_varying_formats`)."""
    return functools.cache(
        lambda: bool(column.dropna().astype(str).str.fullmatch(SLASHED_DATE_TIME).all()))


def _zone_names_as_offsets(column: pd.Series, texts: bool) -> Callable[[], pd.Series]:
    """Text `column` with GMT or UTC after a time written +00:00 (pandas' ISO 8601 parser,
    which reads formats that vary from row to row, refuses the names), as a rewrite run
    once, when a reader first needs it; `column` as is where `texts` is False (its
    `infer_dtype` is not "string", which the caller has found)."""
    def rewrite() -> pd.Series:
        if not texts:
            return column
        return column.str.replace(ZONE_NAME, r"\1+00:00", regex=True)
    return functools.cache(rewrite)


def _first_unparseable(column: pd.Series, first: bool) -> str:
    """'row i: value' of the first value of `column` that reads as no date even on its own
    (`first`: day-first dates), so a refusal names it; '' where each one reads."""
    each = _to_datetime_one_offset(column, utc=True, dayfirst=first, format="mixed",
                                   errors="coerce")
    bad = np.flatnonzero(each.isna().to_numpy() & column.notna().to_numpy())
    return f"row {bad[0]}: {column.iloc[bad[0]]!r}" if len(bad) else ""


def dataset_path(name: str) -> Path:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; embedded ones are {sorted(DATASETS)}, "
                         "or pass the path of a .csv or .parquet file")
    return DATA_DIR / DATASETS[name]


def load_dataset(name_or_path: str | os.PathLike, *, date_column: str | None = None,
                 field: str | None = None) -> pd.DataFrame:
    """A DataFrame with parsed dates and typed columns.

    Embedded names: "sp500" (Date as datetime64, prices float64, Volume int64) and
    "german_credit" (7 int64 columns, 13 categorical ones and the `creditability`
    target, categories "good"/"bad"). Anything else is read as a CSV (optionally
    gzipped) or Parquet file; `date_column` is then parsed as dates, and `field` (the
    option that gave the path, "data.path") named where the file is refused.
    """
    name = str(name_or_path)
    if name == "sp500":
        df = read_csv(dataset_path(name))
        df["Date"] = pd.to_datetime(df["Date"], format="%m/%d/%Y")
        return df.astype({c: "float64" for c in ("Open", "High", "Low", "Close", "Adj Close")})
    if name == "german_credit":
        df = read_csv(dataset_path(name))
        for col in df.columns:
            df[col] = df[col].astype("int64" if col in GERMAN_NUMERIC else "category")
        return df
    return read_table(name, date_column=date_column, field=field)


@functools.cache
def exact_floats() -> dict[str, str]:
    """The `pd.read_csv` option that reads every float as written, to the bit: none where
    pandas' default does (3.1 on, where passing `float_precision` is deprecated);
    `float_precision="round_trip"` where its fast default misreads some by one unit in the
    last place (3.0 and 2.x: many of `to_csv`'s floats, 15-32% in our checks). Found by
    reading 1,000 written floats back once."""
    values = np.random.default_rng(0).standard_normal(1000) * 100
    text = "x\n" + "\n".join(map(repr, values.tolist())) + "\n"
    read = pd.read_csv(io.StringIO(text))["x"].to_numpy()
    return {} if np.array_equal(read, values) else {"float_precision": "round_trip"}


def read_csv(path: str | os.PathLike, **options) -> pd.DataFrame:
    """pandas' reader (with `options`), its floats read exactly (`exact_floats`), with
    what went wrong said in terms of the file. Every CSV fjax reads goes through it."""
    path = Path(path)
    try:
        return pd.read_csv(path, **exact_floats(), **options)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{str(path)!r} is empty: no header and no rows; write a header "
                         "line with the column names, then one row per record") from None
    except UnicodeDecodeError:
        raise ValueError(f"{str(path)!r} is not UTF-8 text (e.g. Latin-1 or UTF-16); save "
                         "it as UTF-8") from None
    except (pd.errors.ParserError, OSError, EOFError) as err:   # ragged rows, bad gzip
        raise ValueError(f"{str(path)!r} could not be read as a comma-separated file: "
                         f"{str(err).strip()}{separator_hint(path)}") from None


def separator_hint(path: Path) -> str:
    """"; its header is separated by ';' ...": the fix when the first line holds more
    semicolons, tabs or bars than commas (a European export whose text fields hold
    commas fails to parse, rather than reading as one column); else ""."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", errors="replace") as f:
            line = f.readline()
    except (OSError, EOFError):
        return ""
    other = max(";\t|", key=line.count)
    if line.count(other) <= line.count(","):
        return ""
    name = "a tab" if other == "\t" else repr(other)
    return (f"; its header is separated by {name}, and fjax reads comma-separated files: "
            "save it with commas")


def _table_kind(path: Path) -> str:
    """"parquet" or "csv": the kind of a user's data file, checked to exist."""
    if not path.exists():
        hint = f"; embedded datasets are {sorted(DATASETS)}" if path.suffix == "" else ""
        raise ValueError(f"data file {str(path)!r} does not exist{hint}")
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give the path of a data file in it")
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith((".parquet", ".pq")):
        return "parquet"
    if suffixes.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise ValueError(f"{str(path)!r}: unsupported file type {suffixes or '(none)'}; "
                     "use .csv, .csv.gz or .parquet")


def table_header(path: str | os.PathLike) -> list[str]:
    """The column names of `read_table`'s file, read without its rows (a CSV's first line,
    a Parquet file's schema): a task can refuse what the columns rule out before loading."""
    path = Path(path)
    if _table_kind(path) == "parquet":
        import pyarrow.parquet as pq
        return [str(c) for c in pq.read_schema(path).names]
    return read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False,
                    na_filter=False).iloc[0].tolist()


def read_table(path: str | os.PathLike, *, date_column: str | None = None,
               field: str | None = None) -> pd.DataFrame:
    """A user's CSV or Parquet file, with `date_column` parsed if given; `field` (the
    option that gave `path`, "data.path") is named where a file without rows is refused."""
    path = Path(path)
    csv = _table_kind(path) == "csv"
    df = read_csv(path) if csv else pd.read_parquet(path)
    if df.empty:
        where = f"{field} {str(path)!r}" if field else repr(str(path))
        raise ValueError(f"{where} has no rows, only its header (the column names): give a "
                         "file with the header and at least one data row under it")
    if len(df.columns) == 1 and any(sep in str(df.columns[0]) for sep in ";\t|"):
        raise ValueError(f"{str(path)!r} has one column, {str(df.columns[0])[:60]!r}...: "
                         "its fields look separated by ';', a tab or '|'; fjax reads "
                         "comma-separated files: save it with commas")
    header = table_header(path) if csv else list(df.columns)
    # as written; empty names are pandas' "Unnamed: k", checked with the columns' values
    repeated = sorted({str(c) for c in header if c != "" and header.count(c) > 1})
    if repeated:
        raise ValueError(f"{str(path)!r} repeats the column name(s) {repeated} in its "
                         "header; give every column its own name")
    if date_column is not None:
        if date_column not in df.columns:
            raise ValueError(f"{str(path)!r} has no date column {date_column!r}; "
                             f"columns are {list(df.columns)}")
        df[date_column] = parse_dates(df[date_column],
                                      f"column {date_column!r} of {str(path)!r}")
    return df
