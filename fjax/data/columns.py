"""Column roles of a table and the checks that guard them (pandas, host side).

`infer_schema` decides which columns are numeric and which categorical, and rejects
columns a model cannot learn from (entirely missing, constant, text mixed into numbers)
with an error that names the column and the fix. Configured column names match a file's
exactly, or ignoring case where exactly one column does (`spelled_as`). `binary_target`
turns a named target and positive label into 0/1 labels. Nothing is dropped silently:
every column is either a feature, the target, the id, or listed by the user in `drop`.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from fjax.data.checks import DataSettingError, first_unscalable, listed

MISSING = "<missing>"
NUMERIC_SHARE = 0.5
"""A column whose non-missing values are at least this share numbers is numeric."""


@dataclass(frozen=True)
class TableSchema:
    target: str
    positive: str
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    id_column: str | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


def found_in(values: Sequence, pool: Sequence) -> np.ndarray:
    """bool[n]: which of `values` are in `pool`, by hashing (np.isin compares text values
    pair by pair: 32 s for 30,000 ids among 100,000); a missing value is in no pool."""
    return pd.Series(values, dtype=object).isin(pool).to_numpy() & pd.notna(values)


def did_you_mean(names: Sequence[str], columns: Sequence) -> str:
    """" (did you mean 'age'?)": the columns closest to the mistyped `names` (ignoring
    case), for an error about them; "" when none is close."""
    lower = {str(c).lower(): str(c) for c in columns}
    close = [difflib.get_close_matches(str(name).lower(), list(lower), n=1) for name in names]
    found = [(name, lower[c[0]]) for name, c in zip(names, close) if c]
    if not found:
        return ""
    if len(names) == 1:
        return f" (did you mean {found[0][1]!r}?)"
    return " (did you mean " + ", ".join(f"{c!r} for {n!r}" for n, c in found) + "?)"


def _require(df: pd.DataFrame, names: Sequence[str], field: str) -> None:
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise DataSettingError(f"{field} names column(s) {listed(missing)} that the data does not "
                               f"have{did_you_mean(missing, df.columns)}; columns are "
                               f"{listed(df.columns, 30)}")


def resolve_column(df: pd.DataFrame, name: str) -> str:
    """`name`, or the one column equal to it ignoring case ("date" for "Date")."""
    if name in df.columns:
        return name
    same = [c for c in df.columns if str(c).lower() == name.lower()]
    return same[0] if len(same) == 1 else name


def spelled_as(df: pd.DataFrame, names: Sequence[str | None]) -> pd.DataFrame:
    """`df` with each column that matches one of `names` only ignoring case renamed to
    that spelling, so a config's "Age" finds a file's "age"; other columns unchanged."""
    renames = {}
    for name in names:
        if name:
            found = resolve_column(df, name)
            if found != name:
                renames[found] = name
    return df.rename(columns=renames) if renames else df


def numeric_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """f64[n] values of a numeric column, NaN where missing; text values are an error.
    Errors name a row by the frame's index: a file's row where `df` is a part of it."""
    raw = df[column]
    if pd.api.types.is_bool_dtype(raw):
        return raw.to_numpy(np.float64)
    if pd.api.types.is_numeric_dtype(raw):
        values = raw.to_numpy(np.float64)
    else:
        values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        text = raw.notna().to_numpy() & np.isnan(values)
        if text.any():
            rows = np.nonzero(text)[0]
            raise DataSettingError(
                f"numeric column {column!r} has non-numeric text "
                f"{listed(pd.unique(raw.iloc[rows].astype(str)))} in {len(rows)} row(s) "
                f"(first at row {raw.index[rows[0]]}); fix those values, leave them empty to "
                f"mark them missing, or list {column!r} in data.categorical")
    if np.isinf(values).any():
        row = raw.index[np.nonzero(np.isinf(values))[0][0]]
        raise ValueError(f"numeric column {column!r} has an infinite value at row {row}; "
                         "replace it with a finite number or leave it empty (missing)")
    row = first_unscalable(values)
    if row is not None:
        raise ValueError(f"numeric column {column!r} holds {values[row]:g} at row "
                         f"{raw.index[row]}, "
                         "beyond what float32 training can scale; rescale the column (e.g. "
                         "to thousands) or fix the value")
    return values


def category_values(df: pd.DataFrame, column: str) -> np.ndarray:
    """object[n] of strings; missing values become the category "<missing>". Numbers are
    written shortest (2.0 as "2"), so a code read as 2 in one file and as 2.0 in another
    (pandas reads whole numbers as floats where a value is missing) is one category."""
    raw = df[column]
    missing = raw.isna().to_numpy()
    if pd.api.types.is_float_dtype(raw):   # + 0.0: -0.0 is 0
        numbers, where = np.unique(raw.to_numpy(np.float64)[~missing] + 0.0,
                                   return_inverse=True)
        text = np.full(len(raw), MISSING, dtype=object)
        text[~missing] = np.array([np.format_float_positional(v, trim="-") for v in numbers],
                                  dtype=object)[where]
        return text
    return np.where(missing, MISSING, raw.astype(str).to_numpy()).astype(object)


# Numbers written for people: "1,037", "$ 12,500.00", "12 500", "$250" (grouped or with a
# currency sign), and "0,5", "€12,50" (a decimal comma: a group that is not three digits,
# or a leading 0).
GROUPED = (r"[-+]?[$€£]?\s*[1-9]\d{0,2}([, ]\d{3})+(\.\d+)?",
           r"[-+]?[$€£]\s*\d+(\.\d+)?")
DECIMAL_COMMA = r"[-+]?[$€£]?\s*\d+,\d+"


def _written_numbers(series: pd.Series) -> tuple[str, str] | None:
    """(how, an example) when most values are numbers written with separators or
    currency signs ("thousands") or with a decimal comma, which a model must not take as
    categories; else None. A column with any value that only a decimal comma explains
    ("0,125", "12,50") is decimal commas: removing the comma would multiply it."""
    present = series.dropna().astype(str).str.strip()
    plain = pd.to_numeric(present, errors="coerce").notna()
    if present.empty or plain.mean() >= NUMERIC_SHARE:
        return None
    grouped = np.logical_or.reduce([present.str.fullmatch(p) for p in GROUPED])
    decimal = present.str.fullmatch(DECIMAL_COMMA) & ~grouped
    for how, written in (("decimal comma", decimal), ("thousands", grouped)):
        if written.any() and (plain | grouped | decimal).mean() >= NUMERIC_SHARE:
            return how, present[written].iloc[0]
    return None


def looks_numeric(series: pd.Series) -> bool:
    """Numbers (not true/false), or text at least `NUMERIC_SHARE` of which reads as them."""
    if pd.api.types.is_bool_dtype(series):
        return False
    if pd.api.types.is_numeric_dtype(series):
        return True
    present = series.dropna()
    if isinstance(series.dtype, pd.CategoricalDtype) or present.empty:
        return False
    parsed = pd.to_numeric(present.astype(str), errors="coerce")
    return parsed.notna().mean() >= NUMERIC_SHARE


# Dates with a four-digit year: 2023-01-31, 2023/1/31, 2011-12, 31/01/2023, Dec-2011.
DATE_SHAPES = (r"\d{4}[-/.]\d{1,2}([-/.]\d{1,2})?\b|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}\b"
               r"|[A-Za-z]{3,9}[- ]\d{4}\b")


def _looks_like_dates(series: pd.Series) -> bool:
    """Dates (a datetime column, or text most of which is shaped as `DATE_SHAPES` and
    reads as dates): as a category, every later applicant's date would be unknown. Read
    as UTC, so times with several UTC offsets (a daylight-saving change) are dates too."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    present = series.dropna().astype(str).str.strip()
    shaped = present.str.match(DATE_SHAPES)
    if present.empty or shaped.mean() < NUMERIC_SHARE:
        return False
    dates = pd.to_datetime(present[shaped], errors="coerce", format="mixed", utc=True)
    return dates.notna().mean() >= 0.9


ID_MIN_ROWS = 20   # fewer rows: a text column distinct in every row may be a real category


def counts_rows(values: np.ndarray) -> str | None:
    """How whole numbers, one per row and none missing, look like an identifier rather
    than a measurement: they run consecutively in any order (1..n), or rise (or fall)
    with every row of the file (a sequential id with gaps); else None."""
    if len(values) < ID_MIN_ROWS or np.isnan(values).any() or np.any(values != np.round(values)):
        return None
    if np.all(np.diff(np.sort(values)) == 1):
        return "numbers the rows (consecutive whole numbers, each once)"
    step = np.diff(values)
    for moves, way in ((np.all(step > 0), "rises"), (np.all(step < 0), "falls")):
        if moves:
            return f"{way} with every row of the file (whole numbers, each once)"
    return None


def _as_id(column: str) -> str:
    """The id setting for `column`, as the config field and as the command-line flag
    (a pandas index saved with the file reads as 'Unnamed: 0', quoted for the shell)."""
    return f"data.id_column={column!r} (--data.id-column {shlex.quote(str(column))})"


def infer_schema(df: pd.DataFrame, target: str, positive: str, *,
                 numeric: Sequence[str] = (), categorical: Sequence[str] = (),
                 drop: Sequence[str] = (), id_column: str | None = None) -> TableSchema:
    """Roles of every column: declared ones as given, others inferred from their values.

    Raises ValueError naming the column for: an unknown declared column, an entirely
    missing column, a constant column, text in a numeric column, an undeclared column
    that looks like an identifier (text with a different value in every row, or whole
    numbers that count the rows or rise with every row) or holds dates, and a bad target.
    """
    _require(df, [target], "data.target")
    _require(df, list(numeric), "data.numeric")
    _require(df, list(categorical), "data.categorical")
    _require(df, list(drop), "data.drop")
    if id_column is not None:
        _require(df, [id_column], "data.id_column")
    both = sorted(set(numeric) & set(categorical))
    if both:
        raise DataSettingError(f"column(s) {listed(both)} are in both data.numeric and "
                               "data.categorical; list each column in one of them")
    reserved = {target, id_column, *drop}
    clash = sorted(reserved & (set(numeric) | set(categorical)) - {None})
    if clash:
        raise DataSettingError(
            f"column(s) {listed(clash)} are declared as features but are the "
            "target, the id or dropped; remove them from data.numeric/categorical")
    num, cat = [], []
    for column in df.columns:
        if column in reserved:
            continue
        series = df[column]
        if series.isna().all():
            raise DataSettingError(f"column {column!r} is entirely missing; drop it with "
                                   f"data.drop={column!r} or fill it in")
        if series.nunique(dropna=False) == 1:
            value = series.iloc[0].item() if hasattr(series.iloc[0], "item") else series.iloc[0]
            raise DataSettingError(f"column {column!r} has the single value {value!r} in "
                                   f"every row and carries no information; drop it with "
                                   f"data.drop={column!r}")
        if column in categorical:
            cat.append(column)
        elif column in numeric or looks_numeric(series):
            values = numeric_values(df, column)  # raises on text in a numeric column
            if column not in numeric and (how := counts_rows(values)):
                raise DataSettingError(
                    f"column {column!r} {how}, like an identifier; as a feature it "
                    f"would rank applicants by file order; pass {_as_id(column)} "
                    f"or data.drop={column!r}, or list it in "
                    "data.numeric to keep it")
            num.append(column)
        elif _looks_like_dates(series):
            example = str(series.dropna().iloc[0])
            raise DataSettingError(
                f"column {column!r} holds dates (e.g. {example!r}); "
                "as a category every later applicant's date would be unknown; "
                f"pass data.date_column={column!r} for an out-of-time test, drop "
                f"it with data.drop={column!r}, derive numbers from it (e.g. "
                "months since the account opened) before loading, or list it in "
                "data.categorical to keep it")
        elif written := _written_numbers(series):
            how, example = written
            what, fix = (("separators or currency signs", "remove them") if how == "thousands"
                         else ("decimal commas", "write the decimal comma as a point"))
            raise DataSettingError(f"column {column!r} holds numbers written with {what} (e.g. "
                                   f"{example!r}); {fix} so it reads as numbers, or list "
                                   f"{column!r} in data.categorical to keep it as text")
        elif series.count() >= ID_MIN_ROWS and series.nunique() == series.count():
            raise DataSettingError(f"column {column!r} has a different value in every row that "
                                   f"has one ({series.count()}), like an identifier; as a category "
                                   f"it would be memorised, not learned; pass {_as_id(column)} "
                                   f"or data.drop={column!r}, or list it in "
                                   "data.categorical to keep it")
        else:
            cat.append(column)
    if not num and not cat:
        raise DataSettingError("no feature columns are left: every column is the target, the id or "
                               "left out (data.drop, data.protected, data.date_column); keep at "
                               "least one feature")
    schema = TableSchema(target=target, positive=str(positive), numeric=tuple(num),
                         categorical=tuple(cat), id_column=id_column)
    binary_target(df, schema)
    return schema


def matches_label(values: pd.Series, label: str) -> np.ndarray:
    """Rows whose value equals `label`, numerically when both are numbers ("1" == 1.0)."""
    as_text = values.astype(str).to_numpy() == label
    try:
        number = float(label)
    except ValueError:
        return as_text
    parsed = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    return as_text | (parsed == number)


def label_classes(values: pd.Series) -> list[str]:
    """The classes of label column `values`, each as text spelled as first met, by
    `matches_label`'s rule ("1" and "1.0" are one): training and scoring read labels alike."""
    texts = pd.Series(pd.unique(values.astype(str)))
    numbers = pd.to_numeric(texts, errors="coerce")
    return list(texts[~texts.where(numbers.isna(), numbers).duplicated()])


def other_label(values: pd.Series, positive: str) -> str:
    """The class of a `binary_target`-checked label column that is not `positive` (its 0)."""
    return str(pd.unique(values[~matches_label(values, positive)].astype(str))[0])


def binary_target(df: pd.DataFrame, schema: TableSchema) -> np.ndarray:
    """f32[n] labels: 1 where the target equals the positive label, else 0."""
    column = schema.target
    values = df[column]
    if values.isna().any():
        rows = np.nonzero(values.isna().to_numpy())[0]
        raise ValueError(f"target column {column!r} is missing in {len(rows)} row(s) (first "
                         f"at row {values.index[rows[0]]}); label them or remove those rows")
    classes = label_classes(values)
    if len(classes) != 2:
        raise ValueError(f"target column {column!r} must have exactly two classes for credit "
                         f"scoring, found {len(classes)}: {listed(sorted(classes), 10)}; map "
                         "them to two classes (e.g. bad/good) or filter the rows")
    positive = matches_label(values, schema.positive)
    if not positive.any():
        raise DataSettingError(
            f"positive label {schema.positive!r} does not occur in target column "
            f"{column!r}, whose classes are {listed(sorted(classes))}; set "
            "data.positive to one of them")
    return positive.astype(np.float32)


def check_class_counts(y: np.ndarray, folds: int, target: str, among: str = "",
                       fix: str = "") -> None:
    """Every class needs at least one row per fold, or stratified folds are impossible.
    `among` says which rows `y` holds (" among the earlier applicants"), `fix` what else
    would give more of them; fewer than 2 leave no number of folds to suggest."""
    for label, name in ((1.0, "positive"), (0.0, "negative")):
        count = int(np.sum(y == label))
        if count < folds:
            fewer = (f"use --cv {count} or fewer folds" if count >= 2 else
                     "cross-validation needs at least 2 of each class (--cv 2)")
            raise ValueError(f"target column {target!r} has only {count} {name} row(s){among}, "
                             f"fewer than the {folds} cross-validation folds; {fewer}, "
                             f"{fix}or add data")
