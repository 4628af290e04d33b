"""Applicants in, model arrays out: load and check the table, split it into stratified
folds, and encode it with preprocessing fitted per fold (on that fold's training rows)
or on every row (for the final refit)."""

from __future__ import annotations

import dataclasses
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from fjax.data.checks import DataSettingError
from fjax.data.columns import (TableSchema, binary_target, check_class_counts, did_you_mean,
                               found_in, infer_schema, label_classes, matches_label,
                               numeric_values, spelled_as)
from fjax.data.split_stack import SplitStack, stack_splits
from fjax.data.splits import Folds, grouped_stratified_kfold, stratified_kfold
from fjax.data.tabular import Encoded, TabularEncoder, fit_encoder
from fjax.datasets import load_dataset, parse_dates, read_table
from fjax.tasks.credit.config import Config, CreditDataConfig


@dataclass(frozen=True)
class CreditData:
    frame: pd.DataFrame
    schema: TableSchema
    y: np.ndarray          # f32[n], 1 = positive (bad)
    ids: np.ndarray        # [n] applicant ids
    folds: Folds           # stratified masks over the n rows
    new: pd.DataFrame | None = None  # applicants to score (data.score_path), checked
    repeated_ids: int = 0  # applicants with several rows (each kept in one fold)
    later: pd.DataFrame | None = None  # the out-of-time applicants (data.date_column)
    later_y: np.ndarray | None = None  # f32[m], their labels
    later_ids: np.ndarray | None = None  # [m], their ids (file rows without data.id_column)
    later_seen_earlier: int = 0        # later applicants whose id also has earlier rows
    date_spans: dict | None = None     # "earlier"/"later": [first, last] date
    coded_numbers: tuple[str, ...] = ()  # numeric columns that look like codes (a warning)
    outlying: Mapping[str, Mapping[str, float]] | None = None  # `outlying_numbers`
    missing: Mapping[str, int] | None = None                   # `missing_counts`
    age: str | None = None             # the scored age column to check (data.age_column)
    implausible_ages: Mapping | None = None  # `check_ages` of every labelled row (with age)
    new_implausible_ages: Mapping | None = None  # `check_ages` of `new` (with age)


@dataclass(frozen=True)
class Shape:
    """What a model needs to know about its input: x = [num | category indices]."""

    n_numeric: int
    cardinalities: tuple[int, ...]

    @property
    def width(self) -> int:
        return self.n_numeric + len(self.cardinalities)


@dataclass(frozen=True)
class FoldDesign:
    """Per-fold encodings stacked on one array (see `fjax.data.split_stack`)."""

    stack: SplitStack           # data {"x": f32[k*n, width], "y": f32[k*n]}
    encoders: list[TabularEncoder]
    shape: Shape


def out_of_time(frame: pd.DataFrame, column: str, share: float, source: str
                ) -> tuple[np.ndarray, dict, np.ndarray]:
    """(bool[n]: the latest `share` of rows by the dates of `column`, whole dates only,
    so every held-out row comes after the last earlier one; the first and last date of
    the "earlier" and "later" rows; datetime64[n]: each row's date, parsed once here for
    every later check)."""
    if column not in frame.columns:
        raise DataSettingError(f"{source} has no column {column!r} (data.date_column)"
                               f"{did_you_mean([column], frame.columns)}; its columns are "
                               f"{list(frame.columns)}")
    dates = parse_dates(frame[column], f"column {column!r} (data.date_column) of {source}")
    if dates.isna().any():
        rows = np.nonzero(dates.isna().to_numpy())[0]
        raise ValueError(f"column {column!r} (data.date_column) of {source} has {len(rows)} "
                         f"missing dates (first at row {rows[0]}); every applicant needs one "
                         "for the out-of-time split")
    dates = dates.dt.normalize().to_numpy()   # whole days: a day is never split
    keep = len(dates) - max(1, round(share * len(dates)))
    later = dates > np.sort(dates)[max(keep, 1) - 1]
    if not later.any():
        raise DataSettingError(f"the latest {share:g} of {source}'s rows all fall on its last date "
                               f"({pd.Timestamp(dates.max()).date()}), which the out-of-time split "
                               "cannot separate; use a larger --data.out-of-time")
    spans = {name: [str(pd.Timestamp(d).date()) for d in (dates[rows].min(), dates[rows].max())]
             for name, rows in (("earlier", ~later), ("later", later))}
    return later, spans, dates


def load(config: Config) -> CreditData:
    cfg: CreditDataConfig = config.data
    protected = cfg.protected_columns
    frame = spelled_as(load_dataset(cfg.path or "german_credit", field="data.path"),
                       [cfg.target, cfg.id_column, cfg.date_column, *cfg.numeric,
                        *cfg.categorical, *cfg.drop, *protected, *config.scorecard.no_reasons,
                        cfg.age_column])
    source = repr(cfg.path) if cfg.path else "the embedded German credit data"
    check_protected(protected, frame, source)
    k = config.sweep.folds
    if len(frame) < 2 * k:  # before the columns: on a few rows every column looks constant
        raise ValueError(f"{source} has {len(frame)} row(s); {k}-fold cross-validation "
                         f"needs at least one applicant of each class per fold ({2 * k} rows); "
                         "add data or lower --cv")
    later, spans, dates = (out_of_time(frame, cfg.date_column, cfg.out_of_time, source)
                           if cfg.date_column else (np.zeros(len(frame), bool), {}, None))
    rows = np.arange(len(frame))            # applicants without an id are their file row
    # The file's row numbers kept until the checks below, which name rows by them.
    check_known_labels(frame, cfg, later, dates,
                       f"data.path {cfg.path!r}" if cfg.path else source)
    held, earlier = frame[later], frame[~later]
    among, fix = "", ""
    if later.any():
        among = (f" among the {len(earlier)} earlier applicants (the {len(held)} from "
                 f"{spans['later'][0]} on are held out by data.date_column)")
        fix = "hold out fewer (--data.out-of-time), "
        check_earlier_classes(frame, later, cfg.target, among, fix)
    # Column roles from the earlier rows only: the later ones are unseen by every model.
    with described_as(source):   # its refusals (text among numbers) name no file
        schema = infer_schema(earlier, cfg.target, cfg.positive, numeric=cfg.numeric,
                              categorical=cfg.categorical, id_column=cfg.id_column,
                              drop=(*cfg.drop, *protected,
                                    *([cfg.date_column] if cfg.date_column else [])))
    check_no_reasons(config.scorecard.no_reasons, schema)
    age = scored_age(cfg, frame, schema, source)
    coded = coded_numbers(earlier, schema, cfg.numeric)
    for column in coded:
        warnings.warn(code_words(column))
    y_all = binary_target(frame, schema)    # the later rows' labels checked too
    y = y_all[~later]
    check_class_counts(y, config.sweep.folds, cfg.target, among, fix)
    check_ids(frame, cfg.id_column, source)
    ids = earlier[cfg.id_column].to_numpy() if cfg.id_column else rows[~later]
    repeated_ids = int((pd.Series(ids).value_counts() > 1).sum())
    if repeated_ids:
        # One applicant's rows in one fold, or they would train and validate one model.
        folds = grouped_stratified_kfold(y, ids, config.sweep.folds, seed=config.seed)
    else:
        folds = stratified_kfold(y, config.sweep.folds, seed=config.seed)
    held_out = {}
    if later.any():
        check_numeric(held, schema, f"the later applicants (data.date_column) of {source}")
        held = held.reset_index(drop=True)
        later_ids = held[cfg.id_column].to_numpy() if cfg.id_column else rows[later]
        held_out = dict(later=held, later_y=y_all[later], later_ids=later_ids, date_spans=spans,
                        later_seen_earlier=int(found_in(later_ids, ids).sum())
                        if cfg.id_column else 0)
    ages = check_ages(frame, age, source, TRAINING_BLANKS) if age else None
    new, new_ages = load_new_applicants(cfg, schema, age)
    return CreditData(frame=earlier.reset_index(drop=True), schema=schema, y=y, ids=ids,
                      folds=folds, new=new, new_implausible_ages=new_ages,
                      repeated_ids=repeated_ids, coded_numbers=tuple(coded),
                      outlying=outlying_numbers(earlier, schema),
                      missing=missing_counts(earlier, schema), age=age,
                      implausible_ages=ages, **held_out)


def check_known_labels(frame: pd.DataFrame, cfg: CreditDataConfig, later: np.ndarray,
                       dates: np.ndarray | None, source: str) -> None:
    """Every applicant's label known, as every model trains and the out-of-time test
    measures on outcomes: blank ones are refused naming the file, their dates (`dates`,
    `out_of_time`'s; None without data.date_column) and the way to score applicants whose
    outcome is not known yet (binary_target named neither)."""
    target = cfg.target
    if target not in frame.columns or not frame[target].isna().any():
        return   # a missing column is named by infer_schema
    rows = np.flatnonzero(frame[target].isna().to_numpy())
    dated = ""
    if dates is not None:
        blank = dates[rows]
        dated = (f", dated {pd.Timestamp(blank.min()).date()} to "
                 f"{pd.Timestamp(blank.max()).date()} by data.date_column "
                 f"{cfg.date_column!r}; {int(later[rows].sum())} of them among the later "
                 "applicants held out for the out-of-time test")
    raise ValueError(f"target column {target!r} (data.target) of {source} is blank in "
                     f"{len(rows)} row(s) (first at row {frame.index[rows[0]]}{dated}): "
                     "every model trains, and the out-of-time test measures, on known "
                     "outcomes; label those rows or remove them, and score applicants whose "
                     "outcome is not known yet with --data.score-path NEW.csv (or `fjax "
                     "score credit` after the run)")


def check_earlier_classes(frame: pd.DataFrame, later: np.ndarray, target: str, among: str,
                          fix: str) -> None:
    """Both of the file's classes among the earlier applicants, which every model trains
    on: with all of one class held out, the target check of those rows alone said the
    file had one class."""
    if target not in frame.columns or frame[target].isna().any():
        return   # named by infer_schema and binary_target
    classes = label_classes(frame[target])
    if len(classes) != 2:
        return   # named by binary_target
    kept = [c for c in classes if matches_label(frame[target][~later], c).any()]
    if len(kept) == 1:
        gone = next(c for c in classes if c != kept[0])
        raise ValueError(f"target column {target!r} holds only {kept[0]!r}{among}: every "
                         f"{gone!r} is held out, and a model needs both classes to learn; "
                         f"{fix}or add earlier applicants of both classes")


def scored_age(cfg: CreditDataConfig, frame: pd.DataFrame, schema: TableSchema, source: str
               ) -> str | None:
    """data.age_column if the model scores it as a number, else None: not set, the default
    name absent from a file, the column left out (drop, protected) or read as categories
    (the report's notes say there was no check). A name set but absent is refused."""
    column = cfg.age_column
    if column is None or (column not in frame.columns
                          and column == CreditDataConfig().age_column):
        return None
    if column not in frame.columns:
        raise DataSettingError(f"data.age_column names {column!r}, which {source} does not have; "
                               f"its columns are {list(frame.columns)}: name the age column, or "
                               "pass --data.age-column None to skip the age check")
    return column if column in schema.numeric else None


# A credit applicant is an adult (18 in most countries) and hardly older than the oldest
# people recorded (~110): an age outside may be real, but is more often a typo or a unit.
PLAUSIBLE_AGES = (18, 110)
SHOWN_ROWS = 5   # rows named in the refusal of negative ages
TRAINING_BLANKS = ("each fold imputes a blank number with its training median and adds a "
                   "0/1 'was missing' column (under --data.woe, a blank gets its own bin)")


def check_ages(frame: pd.DataFrame, column: str, source: str, blanks: str) -> dict:
    """Refuse a negative age in `column` (rows named by `frame`'s index, the file's; its
    text and infinities were refused, naming the file, when the column was read as
    numbers); `blanks` says how the caller scores a blank age, the other fix. Count the
    ages outside `PLAUSIBLE_AGES`, which may be real records: scored, but reported."""
    values = numeric_values(frame, column)
    bad = values < 0
    if bad.any():
        rows = np.flatnonzero(bad)
        shown = ", ".join(f"row {frame.index[r]} ({values[r]:g})" for r in rows[:SHOWN_ROWS])
        raise ValueError(
            f"column {column!r} (data.age_column) of {source} holds {len(rows)} negative "
            f"age(s): {shown}{', ...' if len(rows) > SHOWN_ROWS else ''}; an age "
            f"cannot be negative: correct them, or blank them to mark them missing ({blanks})")
    low, high = PLAUSIBLE_AGES
    below, above = values < low, values > high     # a missing age is neither
    odd = values[below | above]
    return {"column": column, "plausible": [low, high], "rows": int(len(odd)),
            "below": int(below.sum()), "above": int(above.sum()),
            "min": float(odd.min()) if len(odd) else None,
            "max": float(odd.max()) if len(odd) else None,
            "first_rows": [int(r) for r in frame.index[below | above][:SHOWN_ROWS]]}


# A word of a column name that names a code, not a quantity (zip3, region_code, BranchID).
CODE_WORD = re.compile(r"(zip|zipcode|postal|postcode|code|id|region|branch|district|county"
                       r"|state|fips|sic|naics|mcc|msa|cbsa)\d*")


def name_words(name: str) -> list[str]:
    """Lower-case words of a column name, split at non-alphanumerics and camelCase humps."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def coded_numbers(frame: pd.DataFrame, schema: TableSchema, declared: tuple[str, ...]
                  ) -> list[str]:
    """Numeric columns, not declared data.numeric, of whole numbers with more than two
    values whose name reads as a code: read as numbers, each becomes one linear term, as
    if zip 941 were 'more' than 940. Values alone cannot tell a code from a count (both
    are whole numbers, leading zeros are gone once read), so the name decides."""
    found = []
    for column in schema.numeric:
        if column in declared or not any(CODE_WORD.fullmatch(w) for w in name_words(column)):
            continue
        values = numeric_values(frame, column)
        values = values[~np.isnan(values)]
        if np.all(values == np.round(values)) and len(np.unique(values)) > 2:
            found.append(column)
    return found


SCALE_RATIO = 5.0   # a standard deviation this many times its capped one is set by a few values


def outlying_numbers(frame: pd.DataFrame, schema: TableSchema) -> dict[str, dict[str, float]]:
    """Numeric columns whose standard deviation exceeds `SCALE_RATIO` times that of their
    values capped at the 1st and 99th percentiles: a few extreme values (an absurd entry,
    a sentinel code such as 98) set the scale a standardized column is read on, so its
    bulk barely moves a linear score. Each with those figures and its range; a column
    whose capped values are constant (a rare flag) has no bulk to lose and is not one."""
    found = {}
    for column in schema.numeric:
        x = numeric_values(frame, column)
        x = x[~np.isnan(x)]
        if len(x) < 2:
            continue
        p1, p99 = np.percentile(x, [1, 99])
        std, capped = np.std(x), np.std(np.clip(x, p1, p99))
        if capped > 0 and std > SCALE_RATIO * capped:
            found[column] = {"std": float(std), "capped_std": float(capped), "p1": float(p1),
                             "p99": float(p99), "min": float(x.min()), "max": float(x.max())}
    return found


def missing_counts(frame: pd.DataFrame, schema: TableSchema) -> dict[str, int]:
    """Each model input's missing values among the labelled rows (inputs without any left
    out), for the report's note on how the encoding treats them."""
    return {c: int(n) for c in schema.features if (n := frame[c].isna().sum())}


def missing_words(missing: Mapping[str, int], rows: int, woe: str) -> str:
    """The report's note on the `missing_counts` columns and what encoding `woe` does."""
    named = "; ".join(f"{c!r} {n} of {rows} ({n / rows:.1%})" for c, n in missing.items())
    numbers = ("gets its own bin, with its own WOE" if woe != "none" else
               "is imputed with the fold's training median, and a 0/1 'was missing' column "
               "is added beside it (a scorecard's `<missing>` row holds both's points)")
    return (f"Missing values in {len(missing)} input(s): {named}. None is dropped: each "
            f"fold's encoder treats them from its own training rows. A missing number "
            f"{numbers}; a missing category is the category '<missing>'. A missing value in "
            "a column whose training rows held none scores as the training applicants' mix "
            "(0 points).")


def outlying_words(outlying: Mapping[str, Mapping[str, float]], woe: str) -> str:
    """The report's note on the `outlying_numbers` columns and what encoding `woe` does
    with them (standardized: they set the scale; WOE-binned: they join the top bin,
    harmless for genuine values, but a code for 'unknown' is scored as the highest
    values), with the fixes."""
    named = "; ".join(
        f"{c!r} (standard deviation {f['std']:.4g}, {f['capped_std']:.4g} capped at its 1st "
        f"and 99th percentiles, {f['p1']:.4g} and {f['p99']:.4g}; range {f['min']:.4g} to "
        f"{f['max']:.4g})" for c, f in outlying.items())
    if woe != "none":
        return (f"A few extreme values lie far beyond the bulk of {len(outlying)} WOE-binned "
                f"column(s): {named}. Binned, they sit in the column's top bin, which is "
                "harmless where they are genuine large values; but codes that mean "
                "'unknown' (such as 96 or 98 in a count of late payments) share the top "
                "bin's WOE with the highest genuine values: set such codes missing in the "
                "file first (a missing value gets its own bin and WOE).")
    return (f"A few extreme values set the scale of {len(outlying)} standardized "
            f"column(s): {named}. Standardized, each column's bulk is squeezed into a "
            "sliver of its range and barely moves the score. Cap such a column in the "
            "file (at its 99th percentile, say), or bin it with --data.woe numeric; set "
            "codes that mean 'unknown' (such as 96 or 98) missing first either way, since "
            "binned they would join the highest counts.")


def code_words(column: str) -> str:
    """The warning for a numeric column that looks like a code, with both fixes."""
    return (f"column {column!r} holds whole numbers and its name reads as a code, yet it is "
            f"scored as one number (a linear term: code 941 counts as 'more' than 940); if it "
            f"is a code, pass --data.categorical {column}; if it measures something, pass "
            f"--data.numeric {column} to silence this")


def check_protected(names: tuple[str, ...], frame: pd.DataFrame, source: str) -> None:
    """data.protected names columns of the data (a typo would leave a trait scored)."""
    unknown = [c for c in names if c not in frame.columns]
    if unknown:
        raise DataSettingError(f"data.protected names {unknown}, which {source} does not have"
                               f"{did_you_mean(unknown, frame.columns)}; its "
                               f"columns are {list(frame.columns)}: name the protected ones among "
                               "them")


def check_no_reasons(names: tuple[str, ...], schema: TableSchema) -> None:
    """scorecard.no_reasons names feature columns only (a typo would withhold nothing)."""
    unknown = [c for c in names if c not in schema.features]
    if unknown:
        raise ValueError(f"scorecard.no_reasons names {unknown}, which the model does not "
                         f"score (not a feature column); its features are "
                         f"{list(schema.features)}: name one of them, e.g. "
                         f"--scorecard.no-reasons {schema.features[0]}")


@contextmanager
def described_as(described: str) -> Iterator[None]:
    """A refusal (ValueError) inside, led by `described`: the file, or the part of it, it
    is about, which the column checks below the task (`numeric_values`) cannot name; one
    whose fix is a data setting stays a `DataSettingError`."""
    try:
        yield
    except ValueError as err:
        refusal = DataSettingError if isinstance(err, DataSettingError) else ValueError
        raise refusal(f"{described}: {err}") from None


def check_numeric(frame: pd.DataFrame, schema: TableSchema, described: str) -> None:
    """Applicants scored but never trained on: their numeric columns must read as numbers."""
    with described_as(described):
        for column in schema.numeric:
            numeric_values(frame, column)


def load_new_applicants(cfg: CreditDataConfig, schema: TableSchema, age: str | None
                        ) -> tuple[pd.DataFrame | None, dict | None]:
    """The applicants of `score_path`, read and checked with the training data (before any
    training), so a wrong file fails at once, and `check_ages` of their ages (`age`)."""
    if not cfg.score_path:
        return None, None
    frame = read_applicants(cfg.score_path, schema, cfg.id_column, "data.score_path")
    if not age:
        return frame, None
    return frame, check_ages(frame, age, f"data.score_path {cfg.score_path!r}", SCORED_BLANKS)


SCORED_BLANKS = ("a blank age scores as the training applicants' mix, 0 points, where the "
                 "run's training rows held no blank age, else as those did: their median "
                 "and 'was missing' column, or their WOE bin")


def read_applicants(path: str, schema: TableSchema, id_column: str | None, field: str
                    ) -> pd.DataFrame:
    """Applicants to score from `path` (given by option `field`): every feature column
    (and the id column) there, spelled as training spelled them (as is the label column,
    where the file holds one), numbers readable as numbers. Missing values and unseen
    categories are left to the encoder, which scores them as the training applicants' mix."""
    needed = [*schema.features, *([id_column] if id_column else [])]
    frame = spelled_as(read_table(path, field=field), [*needed, schema.target])
    missing = [c for c in schema.features if c not in frame.columns]
    id_words = (f"the id column {id_column!r} (the run's data.id_column), which names each "
                "applicant in the scores" if id_column and id_column not in frame.columns
                else "")
    if missing:   # naming data.id_column with the id column
        refusal = DataSettingError if id_words else ValueError
        raise refusal(f"{field} {path!r} lacks the column(s) {missing}; it needs every "
                      "feature column the model trains on"
                      + (f", and {id_words}" if id_words else ""))
    if id_words:
        raise DataSettingError(f"{field} {path!r} lacks {id_words}; the model does not read "
                               "it, but the scores could not be told apart without it: add "
                               "the column")
    check_ids(frame, id_column, f"{field} {path!r}")
    check_numeric(frame, schema, f"{field} {path!r}")
    return frame


def check_ids(frame: pd.DataFrame, column: str | None, source: str) -> None:
    """Refuse a blank id in `column` (data.id_column): the scores name each applicant by
    it, and the grouped folds took every blank id for one applicant (120 blank of 400
    rows all went to one fold, 174 rows against 56)."""
    if not column:
        return
    blank = np.flatnonzero(frame[column].isna().to_numpy())
    if len(blank):
        raise DataSettingError(
            f"column {column!r} (data.id_column) of {source} has {len(blank)} blank id(s) "
            f"(first at row {blank[0]}); every applicant needs its own id, which names its "
            "scores: fill them in, or leave data.id_column unset to name applicants by row")


def categorical_mode(config: Config) -> str:
    """One-hot columns for the linear model, embedding indices for the MLP."""
    return "onehot" if config.model.kind == "logistic" else "index"


def fit_for(config: Config, data: CreditData, rows: np.ndarray | None) -> TabularEncoder:
    return fit_encoder(data.frame, data.schema, data.y, rows,
                       categorical=categorical_mode(config), woe=config.data.woe,
                       woe_bins=config.data.woe_bins, woe_monotone=config.data.woe_monotone)


def pack(encoded: Encoded, n_numeric: int) -> np.ndarray:
    """x = [num zero-padded to n_numeric | category indices as exact floats]."""
    num = np.pad(encoded.num, ((0, 0), (0, n_numeric - encoded.num.shape[1])))
    return np.concatenate([num, encoded.cat.astype(np.float32)], axis=1).astype(np.float32)


def fold_design(config: Config, data: CreditData) -> FoldDesign:
    """Fold j's block: every applicant encoded with statistics of fold j's training rows."""
    encoders = [fit_for(config, data, data.folds.train[j] > 0) for j in range(data.folds.k)]
    encoded = [e.transform(data.frame) for e in encoders]
    stack = stack_splits([{"num": e.num, "cat": e.cat} for e in encoded], data.folds,
                         shared={"y": data.y})
    cards = tuple(int(c) for c in np.max([e.cardinalities for e in encoders], axis=0)) \
        if encoders[0].cardinalities else ()
    shape = Shape(n_numeric=stack.data["num"].shape[1], cardinalities=cards)
    x = pack(Encoded(num=stack.data["num"], cat=stack.data["cat"]), shape.n_numeric)
    stack = dataclasses.replace(stack, data={"x": x, "y": stack.data["y"]})
    return FoldDesign(stack=stack, encoders=encoders, shape=shape)


def full_design(config: Config, data: CreditData) -> tuple[TabularEncoder, np.ndarray, Shape]:
    """The final model's encoder, fitted on every labelled row, and its input x."""
    encoder = fit_for(config, data, None)
    encoded = encoder.transform(data.frame)
    shape = Shape(n_numeric=encoded.num.shape[1], cardinalities=encoder.cardinalities)
    return encoder, pack(encoded, shape.n_numeric), shape
