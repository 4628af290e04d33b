"""Card transactions as columns of numpy arrays, and loading a user's own table.

The columns are the six of the Fraud-Detection-Handbook's labelled transaction table
(Le Borgne et al., *Reproducible Machine Learning for Credit Card Fraud Detection -
Practical Handbook*, ch. 3.2): transaction id, date and time, customer (card) id,
terminal id, amount, fraud label. Times are integer seconds since midnight of day 0,
so day indices, weekdays and rolling windows are integer arithmetic. Rows are in time
order (ties keep the file's order): every feature "without look-ahead" relies on it.

A user's other columns named in `features` are kept as they are read (`user_columns`):
numbers as numbers, other columns (text, true/false, and number codes listed in
`categorical`) as categories, at most `MAX_LEVELS` of them. The models' encoding of
them, fitted on training weeks only, is the fraud task's (`fjax.tasks.fraud.dataset`).

A table with neither card nor terminal ids (the ULB/Kaggle creditcard.csv: Time, V1..V28,
Amount, Class) is read as one card per transaction at one terminal (`cardless`), its
numeric columns as `features` unless some are named, its transaction ids row numbers
where absent, and its times, where all are numbers in [0, 1e8), as seconds elapsed from
1970-01-01 (`elapsed_seconds`). The same numbers beside card ids stay refused as dates.

Bad input raises a `ValueError` that names the column and the fix; nothing is dropped.
"""

from __future__ import annotations

import os
import shlex
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fjax.data.checks import DataSettingError, first_unscalable
from fjax.data.columns import (ID_MIN_ROWS, category_values, counts_rows, did_you_mean,
                               looks_numeric, numeric_values, spelled_as)
from fjax.datasets import (UNIX_UNITS, Dates, holds_numbers, midnights, read_dates,
                           read_table, table_header, without_offsets, zoned)

DAY = 86_400
COLUMNS = ("transaction_id", "timestamp", "customer", "terminal", "amount", "label")
MAX_LEVELS = 100
"""Most distinct values a categorical feature column may hold: each is a one-hot input,
and a column of ids would be memorised, not learned."""
HANDBOOK_COLUMNS = {"transaction_id": "TRANSACTION_ID", "timestamp": "TX_DATETIME",
                    "customer": "CUSTOMER_ID", "terminal": "TERMINAL_ID",
                    "amount": "TX_AMOUNT", "label": "TX_FRAUD"}


@dataclass(frozen=True)
class Transactions:
    """One row per transaction, in time order.

    customer and terminal are dense codes 0..C-1 / 0..T-1; `customer_ids` and
    `terminal_ids` map codes back to the original ids. `scenario` is the simulator's
    fraud scenario (0 legitimate, 1-3), None for user data.
    """

    transaction_id: np.ndarray  # i64[n]
    seconds: np.ndarray         # i64[n] since midnight of day 0
    customer: np.ndarray        # i64[n]
    terminal: np.ndarray        # i64[n]
    amount: np.ndarray          # f64[n]
    fraud: np.ndarray           # i8[n] 0/1
    start: pd.Timestamp         # midnight of day 0
    customer_ids: np.ndarray    # [C] original ids
    terminal_ids: np.ndarray    # [T] original ids
    scenario: np.ndarray | None = None
    extra: dict = field(default_factory=dict)  # e.g. the simulator's profiles
    unused_columns: tuple[str, ...] = ()       # a user's columns that no role or feature names
    user_columns: dict = field(default_factory=dict)  # feature name -> f64[n] numbers or
    # str[n] categories, in row order (the user's `features`)
    categorical_columns: tuple[str, ...] = ()  # which of user_columns are categories
    utc: bool = False   # times are UTC (unix times, or several UTC offsets), not local clocks
    clock_offset: np.ndarray | None = None   # i64[n] seconds from UTC to each written local
    # clock (several offsets), which night and weekend read; None: `seconds` are the clocks
    zone: str | None = None   # data.timezone: `seconds` are UTC instants, and night, weekend
    # and days read the zone's clock (`clock_offset`)
    cardless: bool = False   # the file had no card and no terminal ids: each transaction is
    # its own card (customer_ids: the transaction ids) at one terminal
    elapsed: bool = False    # the times were seconds elapsed, not dates: day 0 is 1970-01-01

    def __len__(self) -> int:
        return len(self.seconds)

    @property
    def day(self) -> np.ndarray:
        """i64[n]: day index since day 0 (the handbook's TX_TIME_DAYS): on the clock of
        `zone` when one is given; else from midnight UTC where a file mixes offsets, one
        clock for the daily alerts and the weeks' boundaries."""
        return (self.clock_seconds if self.zone else self.seconds) // DAY

    @property
    def weekday(self) -> np.ndarray:
        """i64[n]: 0 = Monday ... 6 = Sunday, on the clocks of `clock_seconds`."""
        return (self.clock_seconds // DAY + self.start.weekday()) % 7

    @property
    def clock_seconds(self) -> np.ndarray:
        """i64[n]: the wall-clock times the handbook's night and weekend flags read, as
        seconds since midnight of day 0: each time's own offset as written, when a file
        mixes offsets (a time before day 0's midnight on its clock is negative)."""
        return self.seconds if self.clock_offset is None else self.seconds + self.clock_offset

    @property
    def dates_only(self) -> bool:
        """Every time is midnight: a file of dates without times of day."""
        return len(self) > 0 and bool(np.all(self.clock_seconds % DAY == 0))

    @property
    def n_days(self) -> int:
        return int(self.day.max()) + 1 if len(self) else 0

    def day_of(self, date: str | pd.Timestamp) -> int:
        """The day index of a calendar date."""
        return int((pd.Timestamp(date).normalize() - self.start) // pd.Timedelta(days=1))

    def date_of(self, day: int) -> pd.Timestamp:
        return self.start + pd.Timedelta(days=int(day))

    def date_texts(self, days: np.ndarray) -> np.ndarray:
        """str[n]: YYYY-MM-DD of each day index (vectorized `date_of`, for CSV columns)."""
        return (np.datetime64(self.start.date()) + np.asarray(days).astype("timedelta64[D]")
                ).astype(str)

    def to_frame(self) -> pd.DataFrame:
        """The handbook's table: TRANSACTION_ID, TX_DATETIME, ..., TX_FRAUD(_SCENARIO).
        On a `zone`, TX_DATETIME is its local time with the zone (`seconds` are instants)."""
        when = self.start + pd.to_timedelta(self.seconds, unit="s")
        frame = pd.DataFrame({
            "TRANSACTION_ID": self.transaction_id,
            "TX_DATETIME": when.tz_localize("UTC").tz_convert(self.zone) if self.zone else when,
            "CUSTOMER_ID": self.customer_ids[self.customer],
            "TERMINAL_ID": self.terminal_ids[self.terminal],
            "TX_AMOUNT": self.amount,
            "TX_TIME_SECONDS": self.seconds,
            "TX_TIME_DAYS": self.day,
            "TX_FRAUD": self.fraud,
        })
        if self.scenario is not None:
            frame["TX_FRAUD_SCENARIO"] = self.scenario
        return frame


def _plain(value):
    """A numpy scalar as the Python value it holds, so messages read 2, not np.int64(2)."""
    return value.item() if isinstance(value, np.generic) else value


def summary(tx: Transactions) -> dict:
    """Volume, frauds, fraud rate, compromised cards, and frauds per scenario."""
    out = {"transactions": len(tx), "frauds": int(tx.fraud.sum()),
           "fraud_rate": float(tx.fraud.mean()) if len(tx) else float("nan"),
           "days": tx.n_days, "customers": len(tx.customer_ids),
           "terminals": len(tx.terminal_ids),
           "compromised_cards": int(len(np.unique(tx.customer[tx.fraud == 1])))}
    if tx.dates_only:
        out["dates_only"] = True
    if tx.zone:
        out["timezone"] = tx.zone
    elif tx.utc:
        out["times_utc"] = True
        out["feature_clock"] = "utc" if tx.clock_offset is None else "written offsets"
    if tx.user_columns:
        out["feature_columns"] = {c: "categorical" if c in tx.categorical_columns
                                  else "numeric" for c in tx.user_columns}
    if tx.unused_columns:
        out["unused_columns"] = list(tx.unused_columns)
    if tx.cardless:
        out["cardless"] = True
        del out["customers"], out["terminals"], out["compromised_cards"]
    if tx.elapsed:
        out["times_elapsed_seconds"] = True
    if tx.scenario is not None:
        out["frauds_by_scenario"] = {int(s): int(np.sum(tx.scenario == s)) for s in (1, 2, 3)}
    return out


def _fail(column: str, name: str, problem: str, fix: str) -> None:
    raise ValueError(f"column {name!r} ({column}) {problem}; {fix}")


def _feature_problem(frame: pd.DataFrame, name: str, categorical: bool) -> str | None:
    """Why column `name` cannot be a feature as it stands (missing or non-finite values,
    one value in every row, too many categories), or None."""
    series = frame[name]
    if series.isna().any():
        rows = np.nonzero(series.isna().to_numpy())[0]
        return (f"has {len(rows)} missing values (first at row {rows[0]}); fill them before "
                "loading (e.g. with a value that means 'unknown', which then is a category)")
    if series.nunique() == 1:
        value = series.iloc[0]
        value = value.item() if hasattr(value, "item") else value   # 0.5, not np.float64(0.5)
        return (f"has the single value {value!r} in every row and carries no "
                "information; leave it out of data.features")
    if not categorical:
        numbers = pd.to_numeric(series, errors="coerce").to_numpy(np.float64)
        bad = ~np.isfinite(numbers) & ~np.isnan(numbers)
        if bad.any():
            rows = np.nonzero(bad)[0]
            return (f"has {len(rows)} infinite values (first at row {rows[0]}: "
                    f"{numbers[rows[0]]}); replace them with finite numbers")
        return None
    levels = series.nunique()
    if len(series) >= ID_MIN_ROWS and levels == len(series):
        return (f"has a different value in every row ({levels}), like an identifier: as a "
                "category it would be memorised, not learned; leave it out of data.features")
    if levels > MAX_LEVELS:
        return (f"has {levels} distinct values, more than the {MAX_LEVELS} one-hot inputs a "
                "categorical feature may have; group the rare ones (e.g. into 'other') "
                "before loading, or, if they are numbers, leave the column out of "
                "data.categorical to use their values")
    return None


def user_columns(frame: pd.DataFrame, features: tuple[str, ...],
                 categorical: tuple[str, ...] = (), source: str = "data"
                 ) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    """The columns `features` of `frame` in the file's row order, each f64 numbers or
    str categories, and the names of the categorical ones.

    A column is numeric when `fjax.data.columns.looks_numeric` (credit's rule) says so
    and it is not listed in `categorical`; text and true/false columns are categories.
    Number codes (merchant category codes, country codes) therefore read as numbers
    unless listed in `categorical`. Raises ValueError naming the column for a column the
    frame lacks, missing or infinite values, text among numbers, numbers beyond float32,
    and more than `MAX_LEVELS` categories.
    """
    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise DataSettingError(f"data.features names column(s) {absent} that {source} does not "
                               f"have{did_you_mean(absent, frame.columns)}; its columns are "
                               f"{[str(c) for c in frame.columns]}")
    stray = [c for c in categorical if c not in features]
    if stray:
        raise DataSettingError(f"data.categorical names column(s) {stray} that data.features does "
                               "not list; list them in data.features too")
    values, cats = {}, []
    for name in features:
        is_cat = name in categorical or not looks_numeric(frame[name])
        problem = _feature_problem(frame, name, is_cat)
        if problem:
            raise DataSettingError(f"column {name!r} of data.features {problem}")
        if is_cat:
            values[name] = category_values(frame, name)
            cats.append(name)
        else:
            values[name] = numeric_values(frame, name)   # text among numbers, beyond float32
    return values, tuple(cats)


def _repeated_hour_error(column: pd.Series, row: int, zone: str, described: str,
                         why: str) -> DataSettingError:
    return DataSettingError(f"{described} holds {column.iloc[row]!r} at row {row}, a time that "
                            f"data.timezone {zone!r} repeats (its change back from daylight "
                            f"saving), and {why}, so which of the two it is cannot be told; write "
                            "the times with their UTC offsets, or as UTC (unix times)")


def first_passes(column: pd.Series, wall: pd.Series, zone: str, described: str
                 ) -> np.ndarray:
    """bool[n]: which wall-clock times `wall` (read from `column`) of `zone` are the first,
    daylight-saving, pass of an hour that a change back from daylight saving repeats.

    In a file in time order the rows of a repeated hour run together, and the clock steps
    back once among them: rows before the step are the first pass, rows after it the
    second (pandas' ambiguous='infer'). Where the order cannot tell (no step back, or a
    file out of time order), a guess would misorder the transactions by up to an hour, so
    the times are refused."""
    repeated = wall.dt.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward"
                                   ).isna().to_numpy()
    first = np.ones(len(wall), bool)
    if not repeated.any():
        return first
    clock = wall.to_numpy("datetime64[s]").astype(np.int64)
    back = np.flatnonzero(np.diff(clock) < 0) + 1   # rows whose clock precedes the last one's
    outside = back[~(repeated[back] & repeated[back - 1])]
    if len(outside):
        raise _repeated_hour_error(column, int(np.flatnonzero(repeated)[0]), zone, described,
                                   f"the file is not in time order (row {outside[0]} comes "
                                   "before the row above it)")
    starts = np.flatnonzero(repeated & ~np.r_[False, repeated[:-1]])
    ends = np.flatnonzero(repeated & ~np.r_[repeated[1:], False]) + 1
    for start, end in zip(starts, ends):
        steps = back[(back > start) & (back < end)]
        if len(steps) != 1:
            raise _repeated_hour_error(column, int(start), zone, described,
                                       "the file's order does not step back within that "
                                       "hour" if not len(steps) else "its clock steps back "
                                       "more than once within that hour")
        first[steps[0]:end] = False
    return first


def on_zone(column: pd.Series, read: Dates, zone: str,
            described: str) -> tuple[pd.Series, np.ndarray]:
    """(UTC instants, i64[n] seconds from each to its clock on `zone`) of the times that
    `read_dates` read from `column` (`read`). Unix times, times written
    with offsets and times with a zone (each by its own offset) are instants, shown on
    the zone's clock (its offset at each, daylight saving included); times without
    offsets are the zone's wall clocks (`wall_instants`), also among times with them."""
    ts = read.dates
    instants = ts if read.utc else read.instants
    if instants is None:
        instants = wall_instants(column, ts, midnights(ts), zone, described)
        return instants, (ts - instants).dt.total_seconds().to_numpy().astype(np.int64)
    local = instants.dt.tz_localize("UTC").dt.tz_convert(zone).dt.tz_localize(None)
    if not holds_numbers(column) and not zoned(column):
        bare = without_offsets(column, read, described)
        if bare.notna().any():   # not UTC as read: the zone's clock, as a column of them
            local = bare.fillna(local)
            instants = instants.where(bare.isna(), wall_instants(
                column, local, midnights(bare), zone, described))
    return instants, (local - instants).dt.total_seconds().to_numpy().astype(np.int64)


def wall_instants(column: pd.Series, wall: pd.Series, days: bool, zone: str,
                  described: str) -> pd.Series:
    """Naive UTC instants of the wall clocks `wall` (read from `column`) on `zone`. Times
    that a change back from daylight saving repeats read by the file's order
    (`first_passes`), and one that a change to it skips is refused: the times are on
    another clock. Dates without times of day (`days`) are each their day's first instant,
    also where a zone's clock skips or repeats midnight (America/Santiago, Asia/Beirut)."""
    first = np.ones(len(wall), bool) if days else first_passes(column, wall, zone, described)
    aware = wall.dt.tz_localize(zone, ambiguous=first,
                                nonexistent="shift_forward" if days else "NaT")
    if aware.isna().any():
        row = int(np.nonzero(aware.isna().to_numpy())[0][0])
        raise DataSettingError(f"{described} holds {column.iloc[row]!r} at row {row}, a time "
                               f"that data.timezone {zone!r} skips (its change to daylight "
                               "saving), so the times are on another clock; write them with "
                               "their UTC offsets, or name the zone they are written in")
    return aware.dt.tz_convert("UTC").dt.tz_localize(None)


def elapsed_seconds(column: pd.Series) -> np.ndarray | None:
    """i64[n]: the column's numbers as seconds elapsed, where they all lie in [0, 1e8), below
    the unix times `read_dates` takes (1973 on), as the ULB/Kaggle creditcard.csv's Time
    (seconds since its first transaction, over two days); None for dates or unix times."""
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    values = column.to_numpy(np.float64)
    if not (np.isfinite(values).all() and values.min() >= 0
            and values.max() < UNIX_UNITS["s"][0]):
        return None
    return np.floor(values).astype(np.int64)


def numeric_columns(frame: pd.DataFrame, taken: set[str], source: str) -> tuple[str, ...]:
    """The frame's numeric columns (not true/false) other than `taken`: a file without
    card ids (`Transactions.cardless`) is modelled on them. One that counts the rows (a
    saved index, a sequential id) is refused, as credit's `infer_schema` refuses it: as a
    feature it would rank transactions by file order."""
    numeric = tuple(str(c) for c in frame.columns if str(c) not in taken
                    and not pd.api.types.is_bool_dtype(frame[c]) and looks_numeric(frame[c]))
    for name in numeric:
        how = counts_rows(numeric_values(frame, name))
        if how:
            raise DataSettingError(f"column {name!r} of {source} {how}, like an identifier; as a "
                                   "feature it would rank transactions by file order; name it the "
                                   f"transaction ids (--data.transaction-id-column "
                                   f"{shlex.quote(name)}), or list the features (--data.features)")
    return numeric


def lacks_cards(frame: pd.DataFrame, names: dict[str, str]) -> bool:
    """No card and no terminal column (as `names` spell them, after `spelled_as`): each
    transaction is its own card (`Transactions.cardless`)."""
    return names["customer"] not in frame.columns and names["terminal"] not in frame.columns


def header_lacks_cards(path: str | os.PathLike, columns: dict[str, str] | None = None
                       ) -> bool:
    """`lacks_cards` of the file at `path` from its header alone (`table_header`), so that
    what needs cards is refused before the file is loaded."""
    names = {**HANDBOOK_COLUMNS, **(columns or {})}
    header = pd.DataFrame(columns=table_header(path))
    return lacks_cards(spelled_as(header, list(names.values())), names)


def from_frame(frame: pd.DataFrame, columns: dict[str, str] | None = None,
               source: str = "data", features: tuple[str, ...] = (),
               categorical: tuple[str, ...] = (), timezone: str | None = None
               ) -> Transactions:
    """Validate a table of transactions and convert it to `Transactions`.

    `columns` maps the roles of `COLUMNS` to the table's column names (default: the
    handbook's names), matched exactly or, where one column does, ignoring case. Raises
    ValueError for a missing column, unparseable or missing timestamps, non-numeric,
    missing or negative amounts, and labels other than 0/1; warns and sorts (stably) when
    the timestamps are not in order. `features` (and `categorical`) name other columns
    to keep as model inputs (`user_columns`). `timezone` (an IANA name) puts night,
    weekend and days on that zone's clock (`on_zone`), over any written offsets.
    """
    names = {**HANDBOOK_COLUMNS, **(columns or {})}
    shared = {c: [r for r in COLUMNS if names[r] == c] for c in names.values()}
    shared = {c: roles for c, roles in shared.items() if len(roles) > 1}
    if shared:
        c, roles = next(iter(shared.items()))
        raise ValueError(f"column {c!r} is named for {len(roles)} roles ({', '.join(roles)}) "
                         "of the transactions; give each role its own column (see "
                         "FraudDataConfig's *_column fields)")
    roles = {c.lower() for c in names.values()}
    clash = [c for c in features if c.lower() in roles]
    if clash:
        raise DataSettingError(f"data.features names the role column(s) {clash}, which the "
                               "handbook's features already read; leave them out of data.features")
    frame = spelled_as(frame, [*names.values(), *features])
    cardless = lacks_cards(frame, names)
    needed = ("timestamp", "amount", "label") if cardless else COLUMNS
    missing = [role for role in needed if names[role] not in frame.columns]
    if missing:
        absent = [names[role] for role in missing]
        raise DataSettingError(
            f"{source} lacks the column(s) "
            f"{', '.join(f'{role} -> {names[role]!r}' for role in missing)}"
            f"{did_you_mean(absent, frame.columns)}; its columns are "
            f"{list(frame.columns)}. Rename them, or name yours with e.g. "
            "--data.amount-column MY_AMOUNT (see FraudDataConfig)")
    if len(frame) == 0:
        raise ValueError(f"{source} has no rows")
    ts_name, amount_name, label_name = names["timestamp"], names["amount"], names["label"]
    described = f"column {ts_name!r} (timestamp) of {source}"
    elapsed = elapsed_seconds(frame[ts_name]) if cardless else None
    if elapsed is not None and timezone is not None:
        raise DataSettingError(f"{described} holds seconds elapsed, not times of day on a clock, "
                               f"but data.timezone is {timezone!r}; leave data.timezone out")
    if elapsed is not None:       # seconds from 1970-01-01, which stands for day 0
        frame = frame.assign(**{ts_name: elapsed.astype("datetime64[s]")})
    with warnings.catch_warnings():
        if timezone is not None:   # its days run on the zone's clock, not from midnight UTC
            warnings.filterwarnings("ignore", ".*mixes UTC offsets", UserWarning)
        read = read_dates(frame[ts_name], described, local_days="name the cardholders' "
                          "zone with --data.timezone (e.g. America/New_York)")
    ts, offsets = read.dates, read.offsets
    if ts.isna().any():
        rows = np.nonzero(ts.isna().to_numpy())[0]
        _fail("timestamp", ts_name, f"has {len(rows)} missing values (first at row {rows[0]})",
              "fill or remove those rows before loading")
    amount = pd.to_numeric(frame[amount_name], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(amount)
    if bad.any():
        rows = np.nonzero(bad)[0]
        _fail("amount", amount_name, f"has {len(rows)} non-numeric or missing values (first at "
              f"row {rows[0]}: {_plain(frame[amount_name].iloc[rows[0]])!r})",
              "clean them before loading")
    if (row := first_unscalable(amount)) is not None:
        _fail("amount", amount_name, f"holds {amount[row]:g} at row {row}, beyond what "
              "float32 features can hold", "fix the value or rescale the column")
    if (amount < 0).any():
        rows = np.nonzero(amount < 0)[0]
        _fail("amount", amount_name, f"has {len(rows)} negative values (first at row {rows[0]}: "
              f"{amount[rows[0]]})", "refunds and reversals are not card payments; remove them")
    if frame[label_name].isna().any():
        rows = np.nonzero(frame[label_name].isna().to_numpy())[0]
        _fail("label", label_name, f"has {len(rows)} missing labels (first at row {rows[0]})",
              "label every transaction, or remove the unlabelled ones")
    if names["transaction_id"] not in frame.columns:    # a file without card ids: row numbers
        frame = frame.assign(**{names["transaction_id"]: np.arange(len(frame))})
    ids = frame[names["transaction_id"]]
    if ids.isna().any():
        rows = np.nonzero(ids.isna().to_numpy())[0]
        _fail("transaction_id", names["transaction_id"], f"has {len(rows)} missing ids "
              f"(first at row {rows[0]})", "give every transaction an id")
    repeated = ids.duplicated().to_numpy()
    if repeated.any():
        rows = np.nonzero(repeated)[0]
        _fail("transaction_id", names["transaction_id"], f"repeats {len(rows)} ids (first "
              f"{_plain(ids.iloc[rows[0]])!r} at row {rows[0]})",
              "give every transaction its own id, so scores.csv.gz's rows can be told apart")
    label = pd.to_numeric(frame[label_name], errors="coerce").to_numpy(np.float64)
    bad = ~np.isin(label, (0.0, 1.0))
    if bad.any():
        values = pd.unique(frame[label_name][bad])[:10]
        _fail("label", label_name, f"has values other than 0/1: {np.asarray(values).tolist()}",
              "map fraud to 1 and legitimate to 0")

    if cardless and not features:
        features = numeric_columns(frame, set(names.values()), source)
    extra, cats = user_columns(frame, tuple(features), tuple(categorical), source)
    if cardless:   # its amount (checked above) is one of its columns, scaled as they are
        extra = {amount_name: amount, **extra}

    if timezone is not None:
        ts, offsets = on_zone(frame[ts_name], read, timezone, described)
    seconds_abs = ts.to_numpy("datetime64[s]").astype(np.int64)
    order = np.arange(len(frame))
    if np.any(np.diff(seconds_abs) < 0):
        warnings.warn(f"column {ts_name!r} (timestamp) of {source} is not in time order; "
                      "sorted it (stable, ties keep the file's order)", stacklevel=2)
        order = np.argsort(seconds_abs, kind="stable")
    start = (ts if timezone is None
             else ts + pd.to_timedelta(offsets, unit="s")).min().normalize()
    if cardless:     # each transaction its own card (its id), one terminal for all
        frame = frame.assign(**{names["customer"]: frame[names["transaction_id"]],
                                names["terminal"]: "none"})
    customer_codes, customer_ids = pd.factorize(frame[names["customer"]].to_numpy()[order])
    terminal_codes, terminal_ids = pd.factorize(frame[names["terminal"]].to_numpy()[order])
    for role, codes in (("customer", customer_codes), ("terminal", terminal_codes)):
        if (codes < 0).any():
            rows = np.nonzero(codes < 0)[0]
            _fail(role, names[role], f"has {len(rows)} missing ids (first at row {order[rows[0]]})",
                  "fill or remove those rows before loading")
    return Transactions(
        transaction_id=frame[names["transaction_id"]].to_numpy()[order],
        seconds=seconds_abs[order] - int(np.datetime64(start, "s").astype(np.int64)),
        customer=customer_codes.astype(np.int64), terminal=terminal_codes.astype(np.int64),
        amount=amount[order], fraud=label[order].astype(np.int8), start=start,
        customer_ids=np.asarray(customer_ids), terminal_ids=np.asarray(terminal_ids),
        unused_columns=tuple(str(c) for c in frame.columns
                             if c not in names.values() and c not in extra),
        user_columns={c: v[order] for c, v in extra.items()}, categorical_columns=cats,
        utc=read.utc, clock_offset=None if offsets is None else offsets[order], zone=timezone,
        cardless=cardless, elapsed=elapsed is not None)


def load_transactions(path: str | os.PathLike, columns: dict[str, str] | None = None,
                      features: tuple[str, ...] = (),
                      categorical: tuple[str, ...] = (),
                      timezone: str | None = None, field: str | None = None) -> Transactions:
    """A user's CSV (optionally gzipped) or Parquet file of transactions, read by
    `fjax.datasets.read_table` (`field`: the option that gave `path`); see `from_frame`."""
    return from_frame(read_table(path, field=field), columns, source=str(path), features=features,
                      categorical=categorical, timezone=timezone)
