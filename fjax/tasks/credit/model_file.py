"""A credit run's final model as one file, `model.msgpack` in the run folder: what
`fjax score credit` needs to score new applicants exactly as the run did, without training.

It holds the refitted model's parameters and everything that applies them: the run's
config and the chosen one (a sweep's best), the encoder fitted on the labelled applicants
(with its column schema), the input shape, the reference applicant that reason codes are
relative to, the calibrator, the decision threshold, the score scale, and the training
applicants' scores (scores.csv's `score`, for the new applicants' PSI), the label
training read as good (a scored file's labels are read by it) and each numeric feature's
minimum and maximum over the rows the model was fitted on (a scored value beyond them is
counted). The last two are optional: a file saved by an older fjax lacks them. One msgpack file
(`flax.serialization`, as `Population.save`), written atomically by the run; the
encoder and configs are JSON text inside it, which keeps every float64 digit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from fjax.calibration import Identity, Isotonic, Platt
from fjax.config import from_json, to_json
from fjax.data.columns import TableSchema, numeric_values
from fjax.data.tabular import TabularEncoder
from fjax.scorecard import ScoreScale
from fjax.tasks.credit.config import Config
from fjax.tasks.credit.data import Shape
from fjax.tasks.credit.final import FinalModel, attribution_reference
from fjax.tasks.frozen import read_saved

FORMAT, VERSION = "fjax.CreditModel", 1
SCALE_FIELDS = ("base_score", "base_odds", "pdo", "slope", "intercept")


@dataclass(frozen=True)
class SavedModel:
    """The deployed model of a credit run: `final` (x None, its reference kept) scores as
    `scoring.score_new(config, frame, final, calibrator, threshold, scale)`."""

    config: Config            # the run's (scorecard settings, id column)
    final: FinalModel         # final.config: the chosen configuration
    calibrator: Identity | Platt | Isotonic
    threshold: float          # reject where the deployed PD >= threshold
    scale: ScoreScale
    train_scores: np.ndarray  # f64[n] the training applicants' scores
    good_label: str | None = None  # training's other class; None: saved by an older fjax
    ranges: dict[str, tuple[float, float]] | None = None  # numeric feature: (min, max) of
    # the rows the model was fitted on (`numeric_ranges`); None: saved by an older fjax


def numeric_ranges(frame, schema: TableSchema) -> dict[str, tuple[float, float]]:
    """Each numeric feature's (min, max) over `frame`'s values (a column with none left
    out): the range the model saw, beyond which it extrapolates."""
    values = {c: numeric_values(frame, c) for c in schema.numeric}
    return {c: (float(np.nanmin(x)), float(np.nanmax(x)))
            for c, x in values.items() if not np.isnan(x).all()}


def beyond_range(ranges: dict[str, tuple[float, float]], frame, woe, kind: str
                 ) -> dict[str, dict]:
    """Per numeric feature with values in `frame` outside its (min, max) in `ranges` (those
    of the rows the model was fitted on, `numeric_ranges`): their rows (below, above), the
    one farthest out, that range, the column's encoding (a standardised input
    extrapolates, one in `woe`, the encoder's WOE columns, takes its end bin's WOE) and the
    `model_kind` (config.model.kind: how a standardised input extrapolates). Shared by
    `fjax score credit` and a run's `--data.score-path`."""
    found = {}
    for column, (low, high) in ranges.items():
        x = numeric_values(frame, column)
        below, above = x < low, x > high      # a missing value is neither
        if below.any() or above.any():
            beyond = np.where(below, low - x, np.where(above, x - high, 0.0))
            found[column] = {
                "rows": int(below.sum() + above.sum()), "below": int(below.sum()),
                "above": int(above.sum()), "most_extreme": float(x[np.argmax(beyond)]),
                "training_min": low, "training_max": high,
                "encoding": "woe" if column in woe else "standardised", "model_kind": kind}
    return found


def calibrator_state(calibrator) -> dict:
    if isinstance(calibrator, Platt):
        return {"kind": "platt", "a": calibrator.a, "b": calibrator.b}
    if isinstance(calibrator, Isotonic):
        return {"kind": "isotonic", "x": np.asarray(calibrator.x, np.float64),
                "y": np.asarray(calibrator.y, np.float64)}
    return {"kind": "none"}


def calibrator_from(state: dict):
    if state["kind"] == "platt":
        return Platt(a=float(state["a"]), b=float(state["b"]))
    if state["kind"] == "isotonic":
        return Isotonic(x=np.asarray(state["x"]), y=np.asarray(state["y"]))
    return Identity()


def model_bytes(model: SavedModel) -> bytes:
    """`model` as msgpack bytes (see the module's docstring)."""
    final = model.final
    return serialization.msgpack_serialize({
        "format": FORMAT, "version": VERSION,
        "config": to_json(model.config), "model_config": to_json(final.config),
        "schema": json.dumps(asdict(final.encoder.schema)),
        "encoder": json.dumps(final.encoder.to_dict()),
        "shape": {"n_numeric": final.shape.n_numeric,
                  "cardinalities": list(final.shape.cardinalities)},
        "params": jax.tree.map(np.asarray, final.params),
        "reference": np.asarray(attribution_reference(final), np.float64),
        "calibrator": calibrator_state(model.calibrator),
        "threshold": float(model.threshold),
        "scale": {name: float(getattr(model.scale, name)) for name in SCALE_FIELDS},
        "train_scores": np.asarray(model.train_scores, np.float64),
        **({} if model.good_label is None else {"good_label": model.good_label}),
        **({} if model.ranges is None else {"ranges": json.dumps(model.ranges)}),
    })


def read_model(path: Path) -> SavedModel:
    """The model saved at `path`, refusing a damaged file or another format's."""
    saved = read_saved(path, FORMAT, VERSION, "credit")
    schema = TableSchema(**{k: tuple(v) if isinstance(v, list) else v
                            for k, v in json.loads(saved["schema"]).items()})
    shape = Shape(n_numeric=int(saved["shape"]["n_numeric"]),
                  cardinalities=tuple(int(c) for c in saved["shape"]["cardinalities"]))
    final = FinalModel(config=from_json(Config, saved["model_config"]),
                       encoder=TabularEncoder.from_dict(json.loads(saved["encoder"]), schema),
                       shape=shape, params=saved["params"], x=None,
                       reference=np.asarray(saved["reference"]))
    return SavedModel(config=from_json(Config, saved["config"]), final=final,
                      calibrator=calibrator_from(saved["calibrator"]),
                      threshold=float(saved["threshold"]), scale=ScoreScale(**saved["scale"]),
                      train_scores=np.asarray(saved["train_scores"]),
                      good_label=saved.get("good_label"),
                      ranges=None if "ranges" not in saved else {
                          c: tuple(v) for c, v in json.loads(saved["ranges"]).items()})
