"""A fraud run's deployable model as one file, `model.msgpack` in the run folder: what
`fjax score fraud` needs to turn raw transactions into the run's features and score them
as the run did, without training.

The deployable model is the run's own model (model.kind, or the kind a sweep chose) as
trained on the LAST test period, first seed: the prequential protocol retrains each
week, so the last period's model is the one trained on the most recent labelled week,
the one a team would run next; the report's figures are its kind's over all periods.
(The compared models are the report's baselines, not deployed; `combined` could not be:
its anomaly feature comes from day-fold autoencoders.)

The file holds that member's parameters, the run's config (feature settings: delay,
history, user columns, column names, scaler kind) and the config it trained with, the
scaler fitted on its training week, the one-hot encoder of its user categories (if any),
the feature names, and the alert threshold the run set for it in advance on its delay
week's scores (`data.top_k` alerts a day; None where the run set none), the other
operating points the run set for it in advance (thresholds.csv's rows of its seed and
period: each target's threshold, its source and what it did on that test week; a file
saved before them holds only the budget's), its training week's first day, and its raw
scores of its training week's
transactions, the reference `fjax score fraud`'s PSI compares the new scores with
(format version 2; version 1 files held none). One msgpack file
(`flax.serialization`), written atomically; configs and encoder are JSON inside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from flax import serialization

from fjax.config import from_json, to_json
from fjax.data.columns import TableSchema
from fjax.data.scalers import Scaler
from fjax.data.tabular import TabularEncoder
from fjax.tasks.fraud.config import Config
from fjax.tasks.fraud.evaluation import budget_target
from fjax.tasks.frozen import read_saved

FORMAT, VERSION = "fjax.FraudModel", 2


@dataclass(frozen=True)
class SavedModel:
    """The deployable model of a fraud run (see the module's docstring)."""

    config: Config              # the run's: data settings the features follow
    model_config: Config        # what the deployed member trained with
    period: int                 # the test period it was trained for (the last)
    seed: int                   # its seed
    names: tuple[str, ...]      # the scaled feature columns, in order
    scaler: Scaler              # fitted on its training week
    encoder: TabularEncoder | None   # its training week's one-hot levels of user categories
    params: Any                 # one member's parameters (numpy tree)
    train_scores: np.ndarray    # f64[n] its raw scores of its training week's transactions
    operating_points: dict = field(default_factory=dict)   # target -> its thresholds.csv
    # row set in advance: threshold, set_on_stage, set_on_period, fpr, recall, ...
    train_start: str | None = None   # its training week's first day (YYYY-MM-DD), where
    # `fjax score fraud`'s known compromised cards are counted from (None: older files)

    def point(self, target: str | None = None) -> tuple[str, dict | None]:
        """The operating point `target` and its saved row (threshold, its source and what
        it did on the run's last test week); None: the alert budget (data.top_k alerts a
        day), whose row is None where the run set none. A target the run set no
        threshold for is refused, naming those it set."""
        if target is None:
            budget = budget_target(self.config.data.top_k)
            return budget, self.operating_points.get(budget)
        if target not in self.operating_points:
            have = ", ".join(repr(t) for t in self.operating_points) or "none"
            raise ValueError(f"--target {target!r} is not a threshold the run set in advance "
                             f"for its deployed model; it set: {have} (thresholds.csv's 'in "
                             "advance' rows of its last period)")
        return target, self.operating_points[target]

    @property
    def threshold(self) -> float | None:
        """The alert budget's threshold (`point`'s): alert where the raw score >= it (None:
        no budget)."""
        point = self.point()[1]
        return None if point is None else point["threshold"]


def category_schema(columns) -> TableSchema:
    """The schema `dataset.fit_category_encoders` fits the user categories with."""
    return TableSchema(target="", positive="1", numeric=(), categorical=tuple(columns))


def model_bytes(model: SavedModel) -> bytes:
    """`model` as msgpack bytes (see the module's docstring)."""
    encoder = model.encoder
    return serialization.msgpack_serialize({
        "format": FORMAT, "version": VERSION,
        "config": to_json(model.config), "model_config": to_json(model.model_config),
        "period": model.period, "seed": model.seed, "names": list(model.names),
        "scaler": json.dumps(model.scaler.to_dict()),
        "encoder": "" if encoder is None else json.dumps(
            {"columns": list(encoder.schema.categorical), "state": encoder.to_dict()}),
        "params": jax.tree.map(np.asarray, model.params),
        "threshold": "" if model.threshold is None else repr(float(model.threshold)),
        "train_scores": np.asarray(model.train_scores, np.float64),
        "operating_points": json.dumps(model.operating_points),
        "train_start": model.train_start or "",
    })


def read_model(path: Path) -> SavedModel:
    """The model saved at `path`, refusing a damaged file or another format's; a file
    saved before operating points holds its alert budget's threshold only."""
    saved = read_saved(path, FORMAT, VERSION, "fraud")
    config = from_json(Config, saved["config"])
    if "operating_points" in saved:
        points = json.loads(saved["operating_points"])
    else:
        points = ({budget_target(config.data.top_k): {"threshold": float(saved["threshold"])}}
                  if saved["threshold"] else {})
    encoder = None
    if saved["encoder"]:
        state = json.loads(saved["encoder"])
        encoder = TabularEncoder.from_dict(state["state"], category_schema(state["columns"]))
    return SavedModel(config=config,
                      model_config=from_json(Config, saved["model_config"]),
                      period=int(saved["period"]), seed=int(saved["seed"]),
                      names=tuple(saved["names"]),
                      scaler=Scaler.from_dict(json.loads(saved["scaler"])), encoder=encoder,
                      params=saved["params"],
                      train_scores=np.asarray(saved["train_scores"]),
                      operating_points=points,
                      train_start=saved.get("train_start") or None)
