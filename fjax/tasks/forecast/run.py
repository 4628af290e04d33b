"""`run(config, grid)`: data -> population -> price forecasts -> scored run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from fjax.config import replace_paths
from fjax.report.files import RunDir
from fjax.report.plots import loss_curves
from fjax.tasks.experiment import (GroupResult, default_run_dir, finish_run,
                                   not_distinguishable, resumed_epochs, rising_loss_note)
from fjax.tasks.forecast import plots
from fjax.tasks.forecast.ahead import ahead_forecast, ahead_record, latest_members
from fjax.tasks.forecast.config import Config
from fjax.tasks.forecast.data import ForecastData, data_facts, prepare
from fjax.tasks.forecast.evaluate import (Evaluation, PriceForecast, ensemble, evaluate,
                                          member_prices, point_metrics)
from fjax.tasks.forecast.members import (Candidate, assemble, candidates, choices,
                                         chosen_history, nested, point_mse, ranked,
                                         scaled_point)
from fjax.tasks.forecast.model_file import deployed, forecaster_bytes
from fjax.tasks.forecast.report import (ahead_frame, forecast_frame, model_label,
                                        report_markdown)
from fjax.tasks.forecast.training import apply_fn_of, check_sweep_paths, train
from fjax.tasks.frozen import MODEL_FILE
from fjax.train.population import predict_members

OUTPUTS = ("history.jsonl", "metrics.json", "forecast.csv", "ahead.csv", MODEL_FILE,
           "report.md", "forecast.png", "loss.png", "horizon.png")


def candidate_forecast(raw: np.ndarray, cand: Candidate, config: Config,
                       data: ForecastData) -> PriceForecast:
    """The seed ensemble of one grid point, each window from its own origin's members."""
    per_seed = assemble(raw, cand, data.test_origin)
    return ensemble([member_prices(r, config.loss, data, data.test_index, data.test_origin,
                                   config.evaluation.interval) for r in per_seed])


def write_plots(run_dir: RunDir, config: Config, data: ForecastData, ev: Evaluation,
                history: list, val_label: str | None, loss_title: str,
                name: str = "model") -> None:
    """forecast.png, loss.png and horizon.png; `name`: the reported forecast's legend
    label (a sweep's names its grid point, as report.md does)."""
    origins = data.plan.origins[ev.index]
    dates = data.dates_of(origins[:, None] + np.arange(config.data.horizon)[None, :])
    bounds = [dates[ev.origin == k][0, 0] for k in range(1, data.plan.k)]
    fc = ev.model
    plots.forecast_plot(run_dir.file("forecast.png"), dates, ev.actual, fc.point,
                        ev.baselines["naive"], fc.lower, fc.upper,
                        zoom=config.evaluation.zoom, boundaries=bounds, name=name,
                        ylabel=f"{config.data.target} (price units)",
                        title=f"{config.data.target}: test forecasts vs actual"
                              + (f" (dotted: {data.plan.k} walk-forward origins)"
                                 if data.plan.k > 1 else ""))
    curves = {"loss": "training loss", **({"val_loss": val_label} if val_label else {})}
    loss_curves(history, run_dir.file("loss.png"), curves, loss_title, log_scale=True,
                ylabel="loss (scaled units)")
    plots.horizon_plot(run_dir.file("horizon.png"), ev.metrics["per_horizon"], name)


def run(config: Config, grid: Mapping[str, Sequence[Any]] | None = None, *,
        progress: bool = True) -> Path:
    """Train, forecast, score and write `config.json`, `metrics.json`, `history.jsonl`,
    `forecast.csv`, `ahead.csv` (the forecast after the last row), `report.md` and PNG
    plots to `config.run_dir`; returns the folder."""
    t0 = time.perf_counter()
    check_sweep_paths(config, grid)
    data = prepare(config.data, config.evaluation)
    run_dir = default_run_dir(config, grid, OUTPUTS)
    setup, results = train(config, data, grid, run_dir, progress)
    cands, choice = choose(results, data, grid, config.train.eval_batch_size)
    best = choice[-1]    # the latest origin's: `selected` and the settings shown
    raws, predict_compile_s, predict_s = predict_groups(results, data.x[data.test_rows],
                                                        config.train.eval_batch_size)
    forecasts = [candidate_forecast(raws[c.group], c, results[c.group].group.config, data)
                 for c in cands]
    ev = evaluate(data, nested(forecasts, choice, data.test_origin), config.evaluation,
                  config.data.stride)
    ahead = ahead_record(ahead_forecast(results, cands[best], config, data), data,
                         cands[best], best if len(cands) > 1 else None)

    members = sum(r.population.size for r in results)
    opened = reported_blown_up(results, cands, choice)
    extra = {
        "members": members, "groups": len(results),
        "epochs_run": int(max(np.max(np.asarray(r.population.loop.epoch)) for r in results)),
        "compile_s": sum(r.population.compile_s for r in results),
        "train_s": sum(r.population.train_s for r in results),
        "resumed_epochs": resumed_epochs(results),
        "predict_compile_s": predict_compile_s, "predict_s": predict_s,
        "windows_per_s": members * len(data.test_index) / max(predict_s, 1e-9),
        "val_note": validation_note(setup.monitor_only, data.plan.has_val),
        "blown_up": opened,
        "loss_note": loss_note(results, cands, choice, bool(grid), opened),
        "per_origin_choice": selections(cands, choice),
        "selected": extra_selected(cands[best]),    # the Model line's swept values
    }
    runner_up = {"runner_up_per_origin": runner_up_leads(cands, choice)} if len(cands) > 1 else {}
    if len(cands) > 1:
        extra["sweep"] = sweep_rows(cands, forecasts, ev, data, choice)
        extra["selection"] = (
            selection_text(choice) + tie_text(runner_up["runner_up_per_origin"])
            if data.plan.has_val else
            "No validation span, so no grid point is chosen (choosing on the test span "
            "would leak it): " + ("every origin reports" if data.plan.k > 1 else "reported:")
            + " grid point 1, a default, not a choice. Set --data.val-fraction to choose.")
        if "diverged" in extra["sweep"][0]:
            extra["selection"] += " " + DIVERGED_NOTE.format(seeds=config.sweep.seeds)
    extra["total_s"] = time.perf_counter() - t0
    facts = data_facts(data, config.data)
    timing = {k: extra[k] for k in ("compile_s", "train_s", "predict_compile_s", "predict_s",
                                    "windows_per_s", "total_s", "resumed_epochs")}
    run_dir.json("metrics.json", {**ev.metrics, "ahead": ahead, "selected": extra["selected"],
                                  "selected_per_origin": extra["per_origin_choice"], **runner_up,
                                  "sweep": extra.get("sweep", []), "timing": timing,
                                  "members": members, "epochs_run": extra["epochs_run"],
                                  "data": facts})
    run_dir.csv("forecast.csv", forecast_frame(data, ev))
    table = ahead_frame(data, ahead, ev.metrics)
    run_dir.csv("ahead.csv", table)
    run_dir.bytes(MODEL_FILE, forecaster_bytes(deployed(
        *latest_members(results, cands[best], data.plan.k - 1), data, ahead, ev.metrics)))
    val_label = ("validation loss" if data.plan.has_val else
                 "test-block loss (monitor only)" if setup.monitor_only else None)
    write_plots(run_dir, config, data, ev,
                chosen_history([r.population.history for r in results], cands, choice),
                val_label, loss_title(config.sweep.seeds, data.plan.k, len(cands) > 1,
                           data.plan.has_val),
                model_label(extra["per_origin_choice"]) if len(cands) > 1 else "model")
    # The report describes the grid point it reports, not the grid's first values.
    shown = replace_paths(config, cands[best].hparams)
    run_dir.text("report.md", report_markdown(shown, facts, {**ev.metrics, "ahead": ahead},
                                              extra, table))
    finish_run(run_dir, OUTPUTS)
    return run_dir.path


def choose(results: list[GroupResult], data: ForecastData, grid: Mapping | None,
           batch_size: int) -> tuple[list[Candidate], list[int]]:
    """The grid points, ranked where there is a choice, and each origin's (`choices`)."""
    cands = candidates(results, data.plan.has_val, grid)
    if len(cands) > 1 and data.plan.has_val:
        cands = ranked(cands, validation_mse(results, data, batch_size))
    return cands, choices(cands, data.plan.k)


def validation_mse(results: list[GroupResult], data: ForecastData,
                   batch_size: int) -> list[np.ndarray]:
    """Every member's point-forecast MSE (scaled units) on its own origin's validation
    windows (scaled by its origin's scalers), `f64[P]` per group: what ranks the grid
    points (`ranked`)."""
    val = data.stacked(data.plan.val)
    index = np.nonzero(val.any(axis=0))[0]
    out = []
    for result in results:
        cfg = result.group.config
        raw = predict_members(apply_fn_of(cfg), result.population.params, data.x[index],
                              batch_size)()
        weight = val[result.population.members["fold"].to_numpy()][:, index]
        out.append(point_mse(scaled_point(cfg.loss, raw, data.plan.horizon), data.y[index],
                             weight[..., None] * data.observed[index % data.windows]))
    return out


def predict_groups(results: list[GroupResult], x: np.ndarray,
                   batch_size: int) -> tuple[list[np.ndarray], float, float]:
    """Every group's members on windows `x`: raw outputs `[P, N, out]` per group, the
    compile seconds and the seconds of one call (median of three: one is too noisy)."""
    raws, compile_s, call_s = [], 0.0, 0.0
    for result in results:
        t = time.perf_counter()
        predict = predict_members(apply_fn_of(result.group.config), result.population.params,
                                  x, batch_size)
        compile_s += time.perf_counter() - t
        times = []
        for _ in range(3):
            t = time.perf_counter()
            raw = predict()
            times.append(time.perf_counter() - t)
        raws.append(raw)
        call_s += float(np.median(times))
    return raws, compile_s, call_s


def extra_selected(cand: Candidate) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cand.hparams.items()}


def selections(cands: list[Candidate], choice: list[int]) -> list[dict]:
    """`selected_per_origin`: each origin's reported grid point (1-based), its `val_mse`
    there (None where nothing was chosen) and its settings. `selected` is the last one's,
    the choice to deploy next: it was made on the most recent validation span."""
    return [{"origin": k + 1, "point": c + 1,
             "val_mse": None if cands[c].val_mse is None else float(cands[c].val_mse[k]),
             **extra_selected(cands[c])} for k, c in enumerate(choice)]


def runner_up_leads(cands: list[Candidate], choice: list[int]) -> list[dict]:
    """`runner_up_per_origin`: each origin's chosen point and `runner_up_lead`."""
    return [{"origin": k + 1, "point": c + 1, **runner_up_lead(cands, c, k)}
            for k, c in enumerate(choice)]


def runner_up_lead(cands: list[Candidate], chosen: int, k: int) -> dict:
    """At origin k, the runner-up grid point (1-based: the next lowest finite `val_mse`)
    and the chosen point's lead over it, paired by seed: the mean over seeds of the
    runner-up's MSE minus the chosen one's, and its standard error (None with one seed).
    {} where there is no finite runner-up or nothing was chosen."""
    if cands[chosen].seed_mse is None or not np.isfinite(cands[chosen].val_mse[k]):
        return {}
    others = [i for i, c in enumerate(cands) if i != chosen and np.isfinite(c.val_mse[k])]
    if not others:
        return {}
    runner = min(others, key=lambda i: cands[i].val_mse[k])
    lead = cands[runner].seed_mse[:, k] - cands[chosen].seed_mse[:, k]
    se = float(lead.std(ddof=1) / np.sqrt(len(lead))) if len(lead) > 1 else None
    return {"runner_up_point": runner + 1, "lead": float(lead.mean()), "lead_se": se}


def tie_text(selected: list[dict]) -> str:
    """A sentence for the origins whose choice leads its runner-up by 0, or by under two
    standard errors over seeds (`runner_up_lead`): another draw of seeds could swap them,
    so the choice is not distinguishable; "" where every lead is clear."""
    ties = [s for s in selected if "lead" in s and not_distinguishable(s["lead"], s["lead_se"])]
    if not ties:
        return ""
    each = "; ".join(f"{'origin ' + str(s['origin']) + ': ' if len(selected) > 1 else ''}"
                     f"point {s['point']} leads point {s['runner_up_point']} by {s['lead']:.3g}"
                     + (f" ± {s['lead_se']:.2g}" if s["lead_se"] is not None else "")
                     for s in ties)
    return (f" **Not distinguishable from the runner-up** ({each}; the lead in `val_mse`, "
            "paired by seed, ± its standard error over seeds): under two standard errors, "
            "none, or behind, another draw of seeds could swap them.")


def loss_title(seeds: int, origins: int, sweep: bool, has_val: bool) -> str:
    """What loss.png draws: the members whose forecasts are reported, not the grid (a
    sweep without a validation span chose none: it reports grid point 1)."""
    chosen = ("" if not sweep else ", each origin's chosen grid point" if has_val
              else ", grid point 1 by default")
    return (f"Loss per epoch of the {seeds * origins} reported members\n({origins} origin(s) "
            f"x {seeds} seed(s){chosen})")


def reported_blown_up(results: list[GroupResult], cands: list[Candidate],
                      choice: list[int]) -> str | None:
    """The groups' `blown_up` notes where a grid point some origin reports blew up (a
    plain run's one point): they open the report, as its numbers are a broken model's."""
    def blew(c: Candidate) -> bool:
        r = results[c.group]
        return any(all(c.hparams[r.group.paths[k]] == v for k, v in p.items())
                   for p in r.blown_points)
    if not any(blew(cands[c]) for c in set(choice)):
        return None
    return " ".join(r.blown_up for r in results if r.blown_up)


def loss_note(results: list[GroupResult], cands: list[Candidate], choice: list[int],
              sweep: bool, opened: str | None) -> str | None:
    """Unless the report `opened` with them (`reported_blown_up`), every group's
    `blown_up_points` (a sweep's may name points it did not report); and, but for a plain
    run that blew up, its chosen points' rising-loss note."""
    blown = [] if opened else [r.blown_up for r in results if r.blown_up]
    rising = None if opened and not sweep else chosen_loss_note(results, cands, choice)
    return " ".join(filter(None, [*blown, rising])) or None


def chosen_loss_note(results: list[GroupResult], cands: list[Candidate],
                     choice: list[int]) -> str | None:
    """`rising_loss_note` of the members whose forecasts are reported (each origin's
    chosen point's), the first chosen point that has one."""
    for c in dict.fromkeys(choice):
        origins = [k for k, ck in enumerate(choice) if ck == c]
        members = cands[c].members[:, origins].ravel()
        note = rising_loss_note([{"loss": np.asarray(h["loss"])[members]}
                                 for h in results[cands[c].group].population.history])
        if note:
            return note
    return None


CRITERION = ("the validation MSE of its point forecast (scaled units; the median of "
             "quantiles, a Gaussian head's mean), averaged over seeds. Not `val_loss`, each "
             "point's own training loss: a loss setting changes it (a small Huber delta "
             "makes it small by construction).")


DIVERGED_NOTE = ("`diverged`: how many of a point's {seeds} seed(s) diverged there (the loss "
                 "became NaN or infinite). Such a point ranks last at that origin (its "
                 "`val_loss` and `val_mse` n/a); its test metrics are no trained model's: "
                 "those of the parameters kept before the divergence (the initial ones if it "
                 "diverged in its first epoch), or n/a.")


def selection_text(choice: list[int]) -> str:
    """Which grid point each origin reports and on what it was chosen."""
    if len(choice) == 1:
        return f"Reported: grid point {choice[0] + 1}, the lowest `val_mse`: " + CRITERION
    picks = ", ".join(f"origin {k + 1} point {c + 1}" for k, c in enumerate(choice))
    return ("Each origin chose its own grid point on its own validation span only, which "
            f"precedes its test block (nested walk-forward): {picks} (`reported` below). "
            "Each chose the lowest `val_mse`: " + CRITERION + " Each origin's test block is "
            "forecast by its choice: the test metrics, `forecast.csv` and the verdict pool "
            "them. `selected` in `metrics.json` is the last origin's choice (the one to "
            "deploy next), `selected_per_origin` every origin's.")


def validation_note(monitor_only: bool, has_val: bool) -> str:
    if has_val:
        return ("Epochs and sweep points were chosen on each origin's own validation span, "
                "which precedes its test block: no test block chose a forecast scored on it.")
    if monitor_only:
        return ("There is no validation span: `val_loss` in `history.jsonl` is each origin's "
                "test block, logged for monitoring only; every member keeps its last epoch.")
    return "There is no validation span: the model keeps its last epoch; nothing was tuned."


def sweep_rows(cands: list[Candidate], forecasts: list[PriceForecast], ev: Evaluation,
               data: ForecastData, choice: list[int]) -> list[dict]:
    """Every grid point's validation and test metrics (model only), for the sweep table;
    with several origins, one row per origin and point on that origin's spans, the
    point each chose marked `reported` (no column where nothing was chosen: no
    validation span)."""
    several, chose = data.plan.k > 1, data.plan.has_val
    naive = ([o["naive_rmse"] for o in ev.metrics["per_origin"]] if several else
             [ev.metrics["baselines"]["naive"]["rmse"]])
    at = lambda v, k: None if v is None else float(v[k])  # noqa: E731
    rows = []
    paths = list(dict.fromkeys(p for c in cands for p in c.hparams))   # n/a: None
    diverged = any(c.diverged is not None and c.diverged.any() for c in cands)
    for k in range(data.plan.k):
        block = ev.origin == k
        for i, (c, f) in enumerate(zip(cands, forecasts)):
            m = point_metrics(f.point[block], ev.actual[block], ev.last[block],
                              data.naive_scale(k), ev.observed[block])
            settings = {p: c.hparams.get(p) for p in paths}
            row = {"point": i + 1, "group": c.group,     # from 0, as history.jsonl's
                   **{p: str(v) if isinstance(v, tuple) else v for p, v in settings.items()},
                   **({"diverged": int(c.diverged[k])} if diverged else {}),
                   "val_loss": at(c.val_loss, k), "val_mse": at(c.val_mse, k),
                   "test_rmse": m["rmse"], "test_mae": m["mae"], "test_mase": m["mase"],
                   "naive_rmse": naive[k]}
            if several:
                row = {"origin": k + 1, **row, **({"reported": i == choice[k]} if chose else {})}
            rows.append(row)
    return rows
