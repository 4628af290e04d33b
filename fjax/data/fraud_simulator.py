"""The Fraud-Detection-Handbook's transaction simulator, vectorized with numpy.

Le Borgne, Siblini, Lebichot, Bontempi, *Reproducible Machine Learning for Credit Card
Fraud Detection - Practical Handbook* (ULB MLG, 2022), ch. 3.2 "Transaction data
simulator". The generative model is the book's; the random streams are numpy's
(`SeedSequence(seed).spawn`), so a run is deterministic by seed but not bit-equal to the
book's pandas loops. Its published run (5,000 customers, 10,000 terminals, 183 days from
2018-04-01, radius 5) gave 1,754,155 transactions and 14,681 frauds (0.84%).

  customers: location U(0, 100)^2, mean amount m ~ U(5, 100), std m / 2,
             transactions per day lambda ~ U(0, 4)
  terminals: location U(0, 100)^2; a customer uses those at distance < radius
  each day:  Poisson(lambda) transactions at int(N(43 200, 20 000)) s, kept when in
             (0, 86 400); amount N(m, m/2), a negative draw replaced by U(0, 2m),
             rounded to cents; terminal uniform among the reachable ones (a customer
             with none makes no transaction)
  scenario 1: every amount > 220 is fraud
  scenario 2: each day d < last day, 2 terminals are compromised: all their
             transactions on days [d, d + 28) are fraud
  scenario 3: each day d < last day, 3 customers are compromised: a third (rounded
             down) of their pooled transactions on days [d, d + 14) are fraud, with the
             amount multiplied by 5 (again for each window that picks it)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fjax.data.transactions import DAY, Transactions


@dataclass(frozen=True)
class Scenarios:
    """Fraud scenario parameters (the handbook's values by default)."""

    amount_threshold: float = 220.0
    terminals_per_day: int = 2
    terminal_days: int = 28
    customers_per_day: int = 3
    customer_days: int = 14
    customer_share: float = 1 / 3
    amount_factor: float = 5.0


def customer_profiles(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    xy = rng.uniform(0, 100, size=(n, 2))
    mean = rng.uniform(5, 100, size=n)
    return {"xy": xy, "mean_amount": mean, "std_amount": mean / 2,
            "mean_nb_tx_per_day": rng.uniform(0, 4, size=n)}


def terminal_profiles(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"xy": rng.uniform(0, 100, size=(n, 2))}


def terminals_within(customer_xy: np.ndarray, terminal_xy: np.ndarray,
                     radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Terminals at distance < radius, as CSR: (offsets i64[C + 1], ids i64[nnz]).

    Terminals are bucketed in square cells of side `radius`, so only the 3 x 3 cells
    around a customer can hold a reachable terminal; ids are ascending per customer.
    """
    lo = np.minimum(customer_xy.min(axis=0), terminal_xy.min(axis=0))
    span = np.maximum(customer_xy.max(axis=0), terminal_xy.max(axis=0)) - lo
    grid = np.maximum(1, np.ceil(span / radius).astype(np.int64) + 1)
    t_cell = np.minimum(((terminal_xy - lo) // radius).astype(np.int64), grid - 1)
    c_cell = np.minimum(((customer_xy - lo) // radius).astype(np.int64), grid - 1)
    t_key = t_cell[:, 0] * grid[1] + t_cell[:, 1]
    by_cell = np.argsort(t_key, kind="stable")
    starts = np.searchsorted(t_key[by_cell], np.arange(grid[0] * grid[1] + 1))
    pairs_c, pairs_t = [], []
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            cx, cy = c_cell[:, 0] + dx, c_cell[:, 1] + dy
            ok = (cx >= 0) & (cx < grid[0]) & (cy >= 0) & (cy < grid[1])
            key = np.where(ok, cx * grid[1] + cy, 0)
            first = starts[key]
            count = np.where(ok, starts[key + 1] - first, 0)
            cust = np.repeat(np.arange(len(customer_xy)), count)
            within = np.arange(len(cust)) - np.repeat(np.cumsum(count) - count, count)
            term = by_cell[np.repeat(first, count) + within]
            d = customer_xy[cust] - terminal_xy[term]
            near = np.sqrt(np.sum(d * d, axis=1)) < radius
            pairs_c.append(cust[near])
            pairs_t.append(term[near])
    cust, term = np.concatenate(pairs_c), np.concatenate(pairs_t)
    order = np.lexsort((term, cust))
    counts = np.bincount(cust, minlength=len(customer_xy))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return offsets, term[order].astype(np.int64)


def daily_transactions(profiles: dict, offsets: np.ndarray, terminal_ids: np.ndarray,
                       n_days: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Legitimate transactions of every customer and day, unsorted."""
    counts = rng.poisson(profiles["mean_nb_tx_per_day"][:, None], size=(len(offsets) - 1, n_days))
    slot = np.repeat(np.arange(counts.size), counts.ravel())
    customer, day = slot // n_days, slot % n_days
    t = np.trunc(rng.normal(DAY / 2, 20_000, size=len(slot))).astype(np.int64)
    mean = profiles["mean_amount"][customer]
    amount = rng.normal(mean, profiles["std_amount"][customer])
    redraw = rng.uniform(0, 2 * mean)
    amount = np.round(np.where(amount < 0, redraw, amount), 2)
    n_reach = offsets[customer + 1] - offsets[customer]
    pick = np.floor(rng.random(len(slot)) * n_reach).astype(np.int64)
    keep = (t > 0) & (t < DAY) & (n_reach > 0)
    terminal = terminal_ids[np.minimum(offsets[customer] + pick, max(len(terminal_ids) - 1, 0))]
    return {"seconds": (day * DAY + t)[keep], "customer": customer[keep],
            "terminal": terminal[keep], "amount": amount[keep]}


def compromised_terminal_frauds(terminal: np.ndarray, day: np.ndarray, n_terminals: int,
                                sc: Scenarios, rng: np.random.Generator) -> np.ndarray:
    """bool[n]: scenario 2, all transactions of a compromised terminal in its window."""
    last = int(day.max()) if len(day) else 0
    n_days = last + 1
    marks = np.zeros((n_terminals, n_days + 1), np.int32)   # difference array over days
    for d in range(last):
        hit = rng.choice(n_terminals, size=min(sc.terminals_per_day, n_terminals), replace=False)
        np.add.at(marks, (hit, d), 1)
        np.add.at(marks, (hit, min(d + sc.terminal_days, n_days)), -1)
    active = np.cumsum(marks, axis=1)[:, :n_days] > 0
    return active[terminal, day]


def compromised_customer_frauds(customer: np.ndarray, day: np.ndarray, n_customers: int,
                                sc: Scenarios, rng: np.random.Generator) -> np.ndarray:
    """i64[n]: scenario 3, how many compromise windows picked each transaction."""
    picked = np.zeros(len(customer), np.int64)
    order = np.lexsort((day, customer))              # by customer, then day
    sorted_customer, sorted_day = customer[order], day[order]
    bounds = np.searchsorted(sorted_customer, np.arange(n_customers + 1))
    last = int(day.max()) if len(day) else 0
    for d in range(last):
        victims = rng.choice(n_customers, size=min(sc.customers_per_day, n_customers),
                             replace=False)
        pools = []
        for c in victims:
            lo, hi = bounds[c], bounds[c + 1]
            a = lo + np.searchsorted(sorted_day[lo:hi], d, side="left")
            b = lo + np.searchsorted(sorted_day[lo:hi], d + sc.customer_days, side="left")
            pools.append(order[a:b])
        pool = np.concatenate(pools)
        k = int(len(pool) * sc.customer_share + 1e-9)   # the book's int(n / 3)
        if k:
            picked[rng.choice(pool, size=k, replace=False)] += 1
    return picked


def simulate(n_customers: int = 5000, n_terminals: int = 10000, n_days: int = 183,
             start_date: str = "2018-04-01", radius: float = 5.0, seed: int = 0,
             scenarios: Scenarios = Scenarios()) -> Transactions:
    """Simulate labelled transactions (the handbook's defaults give ~1.75 M, 0.84% fraud)."""
    for name, value in (("n_customers", n_customers), ("n_terminals", n_terminals),
                        ("n_days", n_days)):
        if int(value) < 1:
            raise ValueError(f"simulate: {name} must be >= 1, got {value}")
    if not radius > 0:
        raise ValueError(f"simulate: radius must be > 0, got {radius}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    customers = customer_profiles(n_customers, streams[0])
    terminals = terminal_profiles(n_terminals, streams[1])
    offsets, reach = terminals_within(customers["xy"], terminals["xy"], radius)
    raw = daily_transactions(customers, offsets, reach, n_days, streams[2])
    order = np.lexsort((raw["customer"], raw["seconds"]))   # time, ties by customer
    seconds, customer = raw["seconds"][order], raw["customer"][order]
    terminal, amount = raw["terminal"][order], raw["amount"][order]
    day = seconds // DAY

    scenario = np.where(amount > scenarios.amount_threshold, 1, 0).astype(np.int8)
    scenario[compromised_terminal_frauds(terminal, day, n_terminals, scenarios, streams[3])] = 2
    picked = compromised_customer_frauds(customer, day, n_customers, scenarios, streams[4])
    scenario[picked > 0] = 3
    amount = np.round(amount * scenarios.amount_factor ** picked, 2)
    return Transactions(
        transaction_id=np.arange(len(seconds), dtype=np.int64), seconds=seconds,
        customer=customer, terminal=terminal, amount=amount,
        fraud=(scenario > 0).astype(np.int8), start=pd.Timestamp(start_date).normalize(),
        customer_ids=np.arange(n_customers), terminal_ids=np.arange(n_terminals),
        scenario=scenario,
        extra={"customers": customers, "terminals": terminals,
               "reachable_terminals": np.diff(offsets)})
