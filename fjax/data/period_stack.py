"""Evaluation periods stacked into one array, so that they ride the population axis.

Each period's scaler is fitted on its own training week only (no leakage), so one
shared feature array cannot serve every period. The stack holds one block per period,
its training rows then its test rows, scaled by that period's scaler; `folds` are the
masks that pick a block's training rows (train) and test rows (val). A population over
the stack trains every period in one compiled program; a transaction in two periods
(one period's test week is a later one's training week) appears once in each block.

Shapes: `x f32[N, d]` (or `f32[N, L, d]` for sequences), `y f32[N, 1]`,
`rows i64[N]` (index into the transaction table), `folds.train/val f32[K, N]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fjax.data.scalers import Scaler, fit_scaler
from fjax.data.splits import Folds


@dataclass(frozen=True)
class PeriodStack:
    x: np.ndarray        # f32[N, d] or f32[N, L, d]
    y: np.ndarray        # f32[N, 1]
    rows: np.ndarray     # i64[N]
    block: np.ndarray    # i32[N] period of each row
    folds: Folds         # train / val (= test) masks f32[K, N]
    scalers: list[Scaler]

    def data(self) -> dict[str, np.ndarray]:
        return {"x": self.x, "y": self.y}

    def test_rows(self, k: int) -> np.ndarray:
        """Positions in the stack of period k's test rows."""
        return np.nonzero(self.folds.val[k] > 0)[0]


def stack_periods(features: np.ndarray, labels: np.ndarray, train: list[np.ndarray],
                  test: list[np.ndarray], scaler: str = "standard",
                  history: np.ndarray | None = None) -> PeriodStack:
    """Stack periods given their boolean train and test masks over the transactions.

    `history i64[n, L]` (e.g. `previous_rows`) makes x a sequence `f32[N, L, d]` of each
    row's history, scaled like the row and zero (the training mean) where a card has
    no earlier transaction.
    """
    if len(train) != len(test) or not train:
        raise ValueError(f"need one train and one test mask per period, got {len(train)} "
                         f"and {len(test)}")
    xs, rows, blocks, scalers, is_train = [], [], [], [], []
    for k, (tr, te) in enumerate(zip(train, test)):
        tr_rows, te_rows = np.nonzero(tr)[0], np.nonzero(te)[0]
        if len(tr_rows) == 0:
            raise ValueError(f"period {k} has no training transactions")
        if len(te_rows) == 0:
            raise ValueError(f"period {k} has no test transactions left (after removing "
                             "known compromised cards)")
        sc = fit_scaler(scaler, features[tr_rows])
        block_rows = np.concatenate([tr_rows, te_rows])
        if history is None:
            xs.append(sc.transform(features[block_rows]).astype(np.float32))
        else:
            hist = history[block_rows]
            seq = sc.transform(features[np.maximum(hist, 0)]).astype(np.float32)
            seq[hist < 0] = 0.0
            xs.append(seq)
        rows.append(block_rows)
        blocks.append(np.full(len(block_rows), k, np.int32))
        is_train.append(np.r_[np.ones(len(tr_rows), bool), np.zeros(len(te_rows), bool)])
        scalers.append(sc)
    rows_all, block_all, tr_all = map(np.concatenate, (rows, blocks, is_train))
    k_all = np.arange(len(train))[:, None]
    folds = Folds(train=((block_all[None] == k_all) & tr_all[None]).astype(np.float32),
                  val=((block_all[None] == k_all) & ~tr_all[None]).astype(np.float32))
    return PeriodStack(x=np.concatenate(xs), y=labels[rows_all].astype(np.float32)[:, None],
                       rows=rows_all, block=block_all, folds=folds, scalers=scalers)
