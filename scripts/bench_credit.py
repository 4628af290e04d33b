"""Credit search: 5 folds x 20 configurations x 3 seeds of logistic regression on German
credit (300 members) as ONE compiled population, against the same fits one after another
with `fjax.train.fit` (one compile, reused; each fit on its own fold's encoded rows).

    python scripts/bench.py --only credit_search [--quick]

Quick mode times 10 sequential fits and extrapolates to 300 (first fit + 299 x the mean
of the others); the row's note says so.
"""

from __future__ import annotations

import time

import numpy as np

from fjax.optim import build_optimizer
from fjax.tasks.credit import Config
from fjax.tasks.credit.data import fold_design, load
from fjax.tasks.credit.model import trainable
from fjax.train import fit, init_member, train_population
from fjax.train.epoch import num_batches

GRID = {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2],
        "weight_decay": [1e-4, 1e-3, 3e-3, 1e-2, 3e-2]}
SEEDS = [0, 1, 2]


def credit_search(quick: bool) -> list[dict]:
    cfg = Config()
    data = load(cfg)
    design = fold_design(cfg, data)
    t = trainable(cfg, design.shape, design.stack.k)
    stack = design.stack

    start = time.perf_counter()
    pop = train_population(t.loss_fn, t.init_fn, stack.data, optim=cfg.optim, train=cfg.train,
                           hparams=GRID, seeds=SEEDS, folds=stack.folds, eval_fn=t.eval_fn,
                           callbacks=())
    pop_s = time.perf_counter() - start
    auc = np.asarray(pop.history[-1]["val_auc"])
    best_auc = float(pop.members.assign(auc=auc).groupby(list(GRID))["auc"].mean().max())

    one = trainable(cfg, design.shape)  # evaluates plain n-row data
    blocks = [{"x": stack.data["x"][stack.block_rows(j)], "y": data.y} for j in range(stack.k)]
    rows = int(data.folds.train.sum(axis=1).max())
    tx = build_optimizer(cfg.optim, cfg.train.epochs * num_batches(rows, cfg.train.batch_size))
    count = 10 if quick else pop.size
    walls = []
    for _, m in pop.members.iloc[:count].iterrows():
        j = int(m["fold"])
        state = init_member(one.init_fn, tx, int(m["seed"]), {k: float(m[k]) for k in GRID})
        begin = time.perf_counter()
        fit(state, one.loss_fn, blocks[j], config=cfg.train, weights=data.folds.train[j],
            val_data=blocks[j], val_weights=data.folds.val[j], eval_fn=one.eval_fn,
            callbacks=())
        walls.append(time.perf_counter() - begin)
    seq_s = walls[0] + float(np.mean(walls[1:])) * (pop.size - 1) if count < pop.size \
        else float(np.sum(walls))
    note = (f"{count} fits timed, extrapolated to {pop.size}" if count < pop.size
            else f"all {pop.size} fits timed")
    bench = "credit search"
    return [
        {"bench": bench, "metric": f"population of {pop.size} ({cfg.train.epochs} epochs): total s",
         "value": pop_s, "note": f"compile {pop.compile_s:.1f} s"},
        {"bench": bench, "metric": f"{pop.size} sequential fit calls: total s", "value": seq_s,
         "note": f"{note}; first fit (with compile) {walls[0]:.2f} s"},
        {"bench": bench, "metric": "speed-up of the population", "value": seq_s / pop_s},
        {"bench": bench, "metric": "best config, mean 5-fold validation ROC-AUC",
         "value": best_auc},
    ]


SECTIONS = {"credit_search": credit_search}


if __name__ == "__main__":
    from bench import main
    raise SystemExit(main(sections=SECTIONS))
