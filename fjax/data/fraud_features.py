"""The handbook's 15 transaction features, vectorized and without look-ahead.

Le Borgne et al., *Fraud Detection Handbook*, ch. 3.3 "Baseline feature transformation":

  TX_AMOUNT
  TX_DURING_WEEKEND                 1 on Saturday and Sunday
  TX_DURING_NIGHT                   1 when the hour is <= 6
  (both on each time's local clock: its own UTC offset where a file mixes several)
  CUSTOMER_ID_NB_TX_{w}DAY_WINDOW   the card's transactions in (t - w days, t]
  CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW   their mean amount
  TERMINAL_ID_NB_TX_{w}DAY_WINDOW   the terminal's transactions in (t - (delay + w), t - delay]
  TERMINAL_ID_RISK_{w}DAY_WINDOW    the fraud share of those (0 when there are none)

for w in (1, 7, 30) and a label delay of 7 days: a label is known only `delay` days
after its transaction, so terminal risk reads only labels at least that old. The card
windows count the transaction itself and the earlier rows (row order breaks ties of
equal timestamps), as pandas' `rolling('wd')` does in the book; no window reads a later
row. Each window is two `searchsorted` calls over rows sorted by (entity, time).
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from fjax.data.transactions import DAY, Transactions

WINDOWS = (1, 7, 30)


def history_days(delay: int, windows: tuple[int, ...] = WINDOWS) -> int:
    """Days before a transaction that its features read: the terminal windows' longest,
    behind the `delay`-day label delay (the card windows read less). A day with less
    history before it has features unlike a later day's."""
    return delay + max(windows, default=0)


def feature_names(windows: tuple[int, ...] = WINDOWS) -> list[str]:
    names = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
    for w in windows:
        names += [f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"]
    for w in windows:
        names += [f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW"]
    return names


def _by_entity(entity: np.ndarray, seconds: np.ndarray,
               lookback: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by (entity, time, row) and their sort key (entity, time) as i64,
    spaced so that `key - lookback` seconds never reaches the previous entity."""
    if np.all(np.diff(seconds) >= 0):        # time-ordered rows: a stable sort suffices
        order = np.argsort(entity, kind="stable")
    else:
        order = np.lexsort((np.arange(len(entity)), seconds, entity))
    span = int(seconds.max()) + 1 if len(seconds) else 1
    key = entity[order].astype(np.int64) * (span + lookback + 1) + seconds[order]
    return order, key


def _prefix(values: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])


def customer_windows(tx: Transactions, windows: tuple[int, ...] = WINDOWS) -> dict[str, np.ndarray]:
    """Per card: count and mean amount of its transactions in (t - w days, t], this row
    and earlier rows only."""
    return {name: _unsort(order, v) for name, order, v in _customer_columns(tx, windows)}


def _customer_columns(tx: Transactions, windows: tuple[int, ...]):
    """`customer_windows` one column at a time: (name, row order, values in that order)."""
    order, key = _by_entity(tx.customer, tx.seconds, max(windows, default=0) * DAY)
    pos = np.arange(len(order))
    amounts = _prefix(tx.amount[order])
    for w in windows:
        first = np.searchsorted(key, key - w * DAY, side="right")
        count = pos + 1 - first
        yield f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", order, count.astype(np.float64)
        yield (f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW", order,
               (amounts[pos + 1] - amounts[first]) / count)


def terminal_risk(tx: Transactions, delay_days: int = 7,
                  windows: tuple[int, ...] = WINDOWS) -> dict[str, np.ndarray]:
    """Per terminal: count and fraud share of its transactions in
    (t - (delay + w) days, t - delay days]: only labels at least `delay` days old. With
    delay 0 the window ends strictly before t: a transaction's own label, and those of
    others in the same second, are not known when it is scored."""
    return {name: _unsort(order, v)
            for name, order, v in _terminal_columns(tx, delay_days, windows)}


def _terminal_columns(tx: Transactions, delay_days: int, windows: tuple[int, ...]):
    """`terminal_risk` one column at a time: (name, row order, values in that order)."""
    order, key = _by_entity(tx.terminal, tx.seconds, history_days(delay_days, windows) * DAY)
    frauds = _prefix(tx.fraud[order])
    end = np.searchsorted(key, key - delay_days * DAY, side="right" if delay_days else "left")
    for w in windows:
        begin = np.searchsorted(key, key - (delay_days + w) * DAY, side="right")
        count = (end - begin).astype(np.float64)
        yield f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", order, count
        yield (f"TERMINAL_ID_RISK_{w}DAY_WINDOW", order,
               np.divide(frauds[end] - frauds[begin], count, out=np.zeros_like(count),
                         where=count > 0))


def _unsort(order: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    out = np.empty_like(sorted_values)
    out[order] = sorted_values
    return out


def transaction_features(tx: Transactions) -> np.ndarray:
    """f32[n, 3]: the handbook features read from each transaction alone, TX_AMOUNT,
    TX_DURING_WEEKEND and TX_DURING_NIGHT (the first three of `feature_names`)."""
    hour = (tx.clock_seconds % DAY) // 3600   # local clocks, also with several UTC offsets
    return np.stack([tx.amount, tx.weekday >= 5, hour <= 6], axis=1).astype(np.float32)


def handbook_features(tx: Transactions, delay_days: int = 7,
                      windows: tuple[int, ...] = WINDOWS) -> tuple[list[str], np.ndarray]:
    """(names, f32[n, 3 + 4 len(windows)]) in the order of `feature_names`. Each column
    goes into the float32 result as it is computed (the windows' straight from their
    sorted order): all of them in float64 beside the result and its transposed copy
    were 240 bytes a row, the largest step of a run's memory."""
    if delay_days < 0:
        raise ValueError(f"delay_days must be >= 0, got {delay_days}")
    names = feature_names(windows)
    out = np.empty((len(tx), len(names)), np.float32)
    out[:, :3] = transaction_features(tx)
    for name, order, values in chain(_customer_columns(tx, windows),
                                     _terminal_columns(tx, delay_days, windows)):
        out[order, names.index(name)] = values
    return names, out


def previous_rows(tx: Transactions, length: int) -> np.ndarray:
    """i64[n, length]: the card's last `length` transactions up to and including each
    row, oldest first, -1 where the card has fewer (the GRU's input history)."""
    order, _ = _by_entity(tx.customer, tx.seconds)
    sorted_customer = tx.customer[order]
    pos = np.arange(len(order))
    out = np.full((len(order), length), -1, np.int64)
    for lag in range(length):
        src = pos - lag
        ok = src >= 0
        ok[ok] = sorted_customer[src[ok]] == sorted_customer[ok]
        out[order[ok], length - 1 - lag] = order[src[ok]]
    return out
