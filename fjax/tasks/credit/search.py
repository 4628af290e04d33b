"""Cross-validated search: folds x configurations x seeds as compiled populations.

Grid entries that change the encoding (`model.kind`, `data.woe*`) need their own stacked
design, so the grid is split: one design per encoding, and within it
`fjax.tasks.experiment.train_grid` trains one population per model structure with every
hyperparameter, seed and fold as a member. Members are then scored on their own
validation fold (`members.py`); a configuration's result is the mean and standard
deviation over its folds and seeds.

By default members train for a fixed number of epochs (no best-epoch restore on the
validation fold), so the fold that scores a member never chose anything about it.
With `--train.patience` or `--train.restore-best` the fold also picks the epoch, and
the report says that the scores are optimistic; the final model then trains the median
of the epochs the folds kept (`final.refit_config`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from fjax.config import get_path, replace_path
from fjax.report.files import RunDir
from fjax.scorecard import ScoreScale
from fjax.tasks.credit.config import Config, CreditDataConfig
from fjax.tasks.credit.data import CreditData, fold_design
from fjax.tasks.credit.members import METRICS, member_logits, member_metrics
from fjax.tasks.credit.model import trainable
from fjax.tasks.experiment import GroupResult, combined_table, config_with, train_grid
from fjax.train import TrainingDiverged


@dataclass
class Search:
    table: pd.DataFrame                  # one row per member, with its metrics
    summary: pd.DataFrame                # one row per configuration: mean/std over folds x seeds
    configs: dict[int, Config]           # configuration id -> full config
    logits: dict[tuple[int, int], np.ndarray]   # (encoding, group) -> f32[P, n]
    results: list[list[GroupResult]]     # per encoding, per compile group


# The data fields each encoding's design is built again for (`fold_design` reads them);
# the others are read once, as the data is loaded, and cannot be swept.
ENCODING_DATA = tuple(f"data.{name}" for name in CreditDataConfig.GRID_FIELDS)


def is_encoding_key(path: str) -> bool:
    return path == "model.kind" or path in ENCODING_DATA


def encodings(config: Config, grid: Mapping[str, Sequence[Any]]) -> list[Config]:
    """One config per combination of the grid's encoding values."""
    keys = [p for p in grid if is_encoding_key(p)]
    out = []
    for combo in itertools.product(*(grid[p] for p in keys)):
        cfg = config
        for path, value in zip(keys, combo):
            cfg = replace_path(cfg, path, value)
        out.append(cfg)
    return out


def cross_validate(config: Config, grid: Mapping[str, Sequence[Any]], data: CreditData,
                   run_dir: RunDir | None = None, progress: bool = True) -> Search:
    """Train and score every member of `grid` x seeds x folds around `config`."""
    inner = {p: v for p, v in grid.items() if not is_encoding_key(p)}
    scale = ScoreScale(config.scorecard.base_score, config.scorecard.base_odds,
                       config.scorecard.pdo)
    frames, logits, configs, all_results = [], {}, {}, []
    enc_cfgs = encodings(config, grid)
    for e, enc_cfg in enumerate(enc_cfgs):
        design = fold_design(enc_cfg, data)
        log_dir = run_dir if run_dir is None or len(enc_cfgs) == 1 else \
            run_dir.sub(f"encoding_{e}")
        def build(cfg, design=design):   # every labelled rate: a start, each fold's within 1/n
            return trainable(cfg, design.shape, design.stack.k, float(np.mean(data.y)))

        # Part of a sweep when the whole grid is one, even where this encoding's own grid
        # is empty ({"model.kind": [...]}): best_config_id decides over all of them.
        results = train_grid(enc_cfg, inner, build, design.stack.data,
                             folds=design.stack.folds, run_dir=log_dir, progress=progress,
                             plain=not grid, ranked="They rank last in the choice of "
                             "settings; see cv_table.csv's diverged_epoch")
        table = combined_table(results, inner)
        for g, result in enumerate(results):
            pop = result.population
            fold = pop.members["fold"].to_numpy()
            z = member_logits(result.group.config, design, pop.params, fold)
            logits[(e, g)] = z
            scores = member_metrics(z, fold, data.y, data.folds.val, data.folds.train, scale,
                                    diverged=np.asarray(pop.loop.diverged_epoch) > 0)
            rows = table["group"].to_numpy() == g
            for name in METRICS:
                table.loc[rows, name] = scores[name].to_numpy()
        table.insert(0, "encoding", e)
        for path in (p for p in grid if is_encoding_key(p)):
            table.insert(1, path, str(get_path(enc_cfg, path)))
        frames.append(table)
        all_results.append(results)
    table = pd.concat(frames, ignore_index=True)
    table = without_unrestored_best(table, all_results)
    hyper = {p for results in all_results for r in results for p in r.group.paths.values()}
    hp = [p for p in inner if p in hyper]
    keys = ["encoding", *(p for p in grid if is_encoding_key(p)), "group",
            *(p for p in inner if p not in hp), *hp]
    # dropna=False: a hyperparameter its group's loss ignores is NaN (focal_gamma with bce)
    table.insert(0, "config", table.groupby(["encoding", "group", *hp], sort=False,
                                            dropna=False).ngroup())
    for _, row in table.drop_duplicates("config").iterrows():
        result = all_results[int(row["encoding"])][int(row["group"])]
        values = {s: float(row[p]) for s, p in result.group.paths.items()}
        configs[int(row["config"])] = config_with(result, values)
    return Search(table=table, summary=summarize(table, keys), configs=configs, logits=logits,
                  results=all_results)


def without_unrestored_best(table: pd.DataFrame, results: list[list[GroupResult]]
                            ) -> pd.DataFrame:
    """`table` with each group's best-epoch (`best_*`) figures blanked where that group does
    not restore its best epoch (they would be chosen on the fold that scores it), and the
    columns dropped where no group restores one."""
    best = [c for c in table.columns if c.startswith("best_")]
    restores = [[r.group.config.train.restore_best for r in rs] for rs in results]
    if not any(map(any, restores)):
        return table.drop(columns=best)
    kept = [restores[e][g] for e, g in zip(table["encoding"], table["group"])]
    return table.assign(**{c: table[c].where(kept) for c in best})


def summarize(table: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean and standard deviation over folds and seeds of every metric, per config."""
    agg = table.groupby("config", sort=True)[list(METRICS)].agg(["mean", "std"])
    agg.columns = [f"{m}_{s}" for m, s in agg.columns]
    first = table.drop_duplicates("config").set_index("config")[list(keys)]
    out = first.join(agg)
    out.insert(len(keys), "members", table.groupby("config", sort=True).size())
    out.insert(len(keys) + 1, "diverged",
               (table["diverged_epoch"] > 0).groupby(table["config"], sort=True).sum())
    return out.reset_index()


def best_config_id(summary: pd.DataFrame) -> int:
    """The configuration with the highest mean validation ROC-AUC over folds and seeds,
    among those none of whose members diverged (a mean over the survivors would flatter
    an unstable learning rate); among all of them, by their survivors' means, only if
    every one had a divergence. Diverged members' metrics are n/a (NaN)."""
    scored = summary[summary["auc_mean"].notna()]
    if scored.empty:
        raise TrainingDiverged("every member of every configuration diverged; lower "
                               "--optim.learning-rate or clip gradients (--optim.clip-norm)",
                               summary)
    stable = scored[scored["diverged"] == 0]
    pool = stable if len(stable) else scored
    return int(pool.loc[pool["auc_mean"].idxmax(), "config"])
