"""Tabular preprocessing fitted on training rows only: a frame in, model arrays out.

`fit_encoder(df, schema, y, rows)` learns every statistic from the rows selected by
`rows` (a fold's training rows) and nothing else; `transform` then encodes any rows:

  numeric      missing values imputed with the training median, then standardized with
               the training mean and standard deviation (`fjax.data.scalers`); where the
               training rows held none, with the training mean (0 once standardized);
  indicators   a 0/1 "was missing" column for each numeric column that had missing
               values in the training rows (as scikit-learn's `add_indicator`);
  woe          optionally, numeric (or all) columns replaced by weight of evidence (a
               category training never held, or a missing value where it held none: the
               training rows' mean WOE, their mix);
  categorical  one-hot columns (for linear models) or integer indices (for embeddings)
               over the categories seen in training; index 0 / the first one-hot column
               is the "unknown" slot every unseen category maps to. Missing values are
               the category "<missing>".

So a value the training rows never held (an unseen category, a missing number where
they had none) enters as the training applicants' mix under every encoding: it scores as
the average applicant does (0 points against the reference in a logistic scorecard).

`Encoded.num: f32[n, d]` holds every float column; `Encoded.cat: i32[n, c]` the category
indices (c = 0 in one-hot mode). `num_attributes` names the original column behind each
float column so that attributions can be summed back per attribute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fjax.data.checks import DataSettingError
from fjax.data.columns import TableSchema, category_values, numeric_values
from fjax.data.scalers import Scaler, fit_scaler
from fjax.data.woe import (CategoricalWoe, NumericWoe, fit_categorical_woe, fit_numeric_woe,
                           with_unseen)

CATEGORICAL_MODES = ("onehot", "index")
WOE_MODES = ("none", "numeric", "all")
UNKNOWN = "<unknown>"


@dataclass(frozen=True)
class Encoded:
    num: np.ndarray   # f32[n, d]
    cat: np.ndarray   # i32[n, c]


@dataclass(frozen=True)
class TabularEncoder:
    schema: TableSchema
    categorical_mode: str
    standardized: tuple[str, ...]
    fill: np.ndarray                        # f64[len(standardized)] training medians
    # (means where the training rows held no missing value)
    scaler: Scaler
    indicators: tuple[str, ...]
    woe: dict[str, NumericWoe | CategoricalWoe] = field(default_factory=dict)
    vocab: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shares: dict[str, np.ndarray] = field(default_factory=dict)  # f64[1 + known]: training
    # share of each one-hot slot; an unseen category is encoded as this mix
    complete: tuple[str, ...] = ()          # numeric columns the training rows held whole

    @property
    def num_names(self) -> tuple[str, ...]:
        names = [*self.standardized, *(f"{c}:missing" for c in self.indicators),
                 *(f"{c}:woe" for c in self.woe)]
        if self.categorical_mode == "onehot":
            for c, cats in self.vocab.items():
                names += [f"{c}={v}" for v in (UNKNOWN, *cats)]
        return tuple(names)

    @property
    def num_attributes(self) -> tuple[str, ...]:
        attrs = [*self.standardized, *self.indicators, *self.woe]
        if self.categorical_mode == "onehot":
            for c, cats in self.vocab.items():
                attrs += [c] * (len(cats) + 1)
        return tuple(attrs)

    @property
    def cat_columns(self) -> tuple[str, ...]:
        return tuple(self.vocab) if self.categorical_mode == "index" else ()

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Index-mode table sizes: known categories plus the unknown slot 0."""
        return tuple(len(self.vocab[c]) + 1 for c in self.cat_columns)

    def transform(self, df: pd.DataFrame) -> Encoded:
        n = len(df)
        parts = []
        if self.standardized:
            raw = np.stack([numeric_values(df, c) for c in self.standardized], axis=1)
            parts.append(self.scaler.transform(np.where(np.isnan(raw), self.fill, raw)))
        for c in self.indicators:
            parts.append(np.isnan(numeric_values(df, c))[:, None])
        for c, woe in self.woe.items():
            values = (numeric_values(df, c) if isinstance(woe, NumericWoe)
                      else category_values(df, c))
            parts.append(woe.transform(values)[:, None])
        codes = {c: self._codes(df, c) for c in self.vocab}
        if self.categorical_mode == "onehot":
            for c, code in codes.items():
                # An unseen category is the training applicants' mix: it contributes what
                # the average applicant's does (0 points against the reference, as under
                # WOE, `with_unseen`), not whatever share of the intercept its siblings
                # absorbed.
                block = np.eye(len(self.vocab[c]) + 1)[code]
                block[code == 0] = self.shares[c]
                parts.append(block)
        num = (np.concatenate([np.asarray(p, np.float64) for p in parts], axis=1)
               if parts else np.zeros((n, 0)))
        cat = (np.stack([codes[c] for c in self.cat_columns], axis=1)
               if self.cat_columns else np.zeros((n, 0), np.int64))
        return Encoded(num=num.astype(np.float32), cat=cat.astype(np.int32))

    def unseen(self, df: pd.DataFrame) -> dict[str, int]:
        """Rows of `df` per column whose value training never held: a category, or a
        missing number in a column the training rows held no missing value in."""
        counts = {c: int(np.sum(self._codes(df, c) == 0)) for c in self.vocab}
        counts.update({c: int(np.sum(w.bin_or_missing(category_values(df, c))
                                     == len(w.categories)))
                       for c, w in self.woe.items() if isinstance(w, CategoricalWoe)})
        counts.update({c: int(np.sum(np.isnan(numeric_values(df, c))))
                       for c in self.complete})
        return {c: k for c, k in counts.items() if k}

    def _codes(self, df: pd.DataFrame, column: str) -> np.ndarray:
        index = {v: i + 1 for i, v in enumerate(self.vocab[column])}
        return np.array([index.get(v, 0) for v in category_values(df, column)], np.int64)

    def to_dict(self) -> dict:
        """Every fitted statistic, JSON-ready (for run folders and exact comparisons)."""
        woe = {c: ({"edges": w.edges.tolist(), "woe": w.woe.tolist(),
                    "missing_woe": w.missing_woe} if isinstance(w, NumericWoe)
                   else {"categories": list(w.categories), "woe": w.woe.tolist(),
                         "unseen": w.unseen})
               for c, w in self.woe.items()}
        return {"categorical_mode": self.categorical_mode,
                "standardized": list(self.standardized), "fill": self.fill.tolist(),
                "scaler": self.scaler.to_dict(), "indicators": list(self.indicators),
                "woe": woe, "vocab": {c: list(v) for c, v in self.vocab.items()},
                "shares": {c: v.tolist() for c, v in self.shares.items()},
                "complete": list(self.complete)}

    @classmethod
    def from_dict(cls, saved: dict, schema: TableSchema) -> "TabularEncoder":
        """The encoder `to_dict` wrote (with the `schema` it was fitted on): every
        statistic back as the float64 it was (JSON keeps a float's every digit), so the
        encoding is the same bit for bit."""
        def numbers(values) -> np.ndarray:
            return np.asarray(values, np.float64).reshape(-1)

        woe = {c: (NumericWoe(edges=numbers(w["edges"]), woe=numbers(w["woe"]),
                              missing_woe=float(w["missing_woe"])) if "edges" in w
                   else CategoricalWoe(categories=tuple(w["categories"]),
                                       woe=numbers(w["woe"]), unseen=float(w["unseen"])))
               for c, w in saved["woe"].items()}
        return cls(schema=schema, categorical_mode=saved["categorical_mode"],
                   standardized=tuple(saved["standardized"]), fill=numbers(saved["fill"]),
                   scaler=Scaler.from_dict(saved["scaler"]),
                   indicators=tuple(saved["indicators"]), woe=woe,
                   vocab={c: tuple(v) for c, v in saved["vocab"].items()},
                   shares={c: numbers(v) for c, v in saved["shares"].items()},
                   complete=tuple(saved["complete"]))


def fit_encoder(df: pd.DataFrame, schema: TableSchema, y: np.ndarray,
                rows: np.ndarray | None = None, *, categorical: str = "onehot",
                woe: str = "none", woe_bins: int = 5,
                woe_monotone: bool = False) -> TabularEncoder:
    """An encoder whose statistics come only from `df`'s rows where `rows` is true.

    `y` (0/1, one per row of `df`) is read on those rows only, by the WOE bins.
    """
    if categorical not in CATEGORICAL_MODES:
        raise ValueError(f"categorical encoding {categorical!r} is unknown; choose one of "
                         f"{', '.join(CATEGORICAL_MODES)}")
    if woe not in WOE_MODES:
        raise DataSettingError(f"data.woe {woe!r} is unknown; choose one of {', '.join(WOE_MODES)}")
    rows = np.ones(len(df), bool) if rows is None else np.asarray(rows, bool)
    if rows.shape != (len(df),) or not rows.any():
        raise ValueError(f"rows must be a boolean mask over the {len(df)} rows with at least "
                         "one training row")
    train = df.loc[rows]
    y_train = np.asarray(y, np.float64)[rows]
    woe_numeric = woe in ("numeric", "all")
    standardized = () if woe_numeric else schema.numeric
    numbers = {c: numeric_values(train, c) for c in schema.numeric}   # read (and checked) once
    raw = (np.stack([numbers[c] for c in standardized], axis=1)
           if standardized else np.zeros((len(train), 0)))
    present = ~np.isnan(raw)
    fill = np.array([_fill(raw[present[:, j], j], present[:, j].all())
                     for j in range(raw.shape[1])])
    scaler = (fit_scaler("standard", np.where(present, raw, fill)) if standardized
              else Scaler("standard", np.zeros(0), np.ones(0)))
    indicators = tuple(c for j, c in enumerate(standardized) if not present[:, j].all())
    bins: dict[str, NumericWoe | CategoricalWoe] = {}
    if woe_numeric:
        for c in schema.numeric:
            bins[c] = with_unseen(fit_numeric_woe(numbers[c], y_train, woe_bins,
                                                  monotone=woe_monotone), numbers[c])
    coded = schema.categorical
    if woe == "all":
        for c in schema.categorical:
            values = category_values(train, c)
            bins[c] = with_unseen(fit_categorical_woe(values, y_train), values)
        coded = ()
    vocab = {c: tuple(sorted(set(category_values(train, c)))) for c in coded}
    encoder = TabularEncoder(schema=schema, categorical_mode=categorical,
                             standardized=tuple(standardized), fill=fill, scaler=scaler,
                             indicators=indicators, woe=bins, vocab=vocab,
                             complete=tuple(c for c, x in numbers.items()
                                            if not np.isnan(x).any()))
    return dataclasses.replace(encoder, shares={
        c: np.bincount(encoder._codes(train, c), minlength=len(known) + 1) / len(train)
        for c, known in vocab.items()})


def _fill(present: np.ndarray, whole: bool) -> float:
    """The value a missing number is imputed with: the training median where the training
    rows held missing values (their indicator column carries the difference), else the
    training mean, which standardizes to 0: the training applicants' mix, as an unseen
    category's encoding (the median would score it as the median applicant, away from
    the average one in a skewed column such as a credit amount)."""
    if not len(present):
        return 0.0
    return float(np.mean(present) if whole else np.median(present))
