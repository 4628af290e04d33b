"""The S&P 500 forecasting tutorial, done honestly: the default `fjax run forecast`.

    python experiments/forecast_sp500.py
    python experiments/forecast_sp500.py --train.epochs 50 --data.origins 5
    python experiments/forecast_sp500.py --data.transform log_return --loss.name pinball

Writes runs/forecast/ (or --out DIR): config.json, environment.json, metrics.json,
history.jsonl, forecast.csv, ahead.csv, model.msgpack (for `fjax score forecast`),
forecast.png, loss.png, horizon.png and report.md.
"""

import tyro

from fjax.cli import report_errors
from fjax.runtime import enable_compilation_cache
from fjax.tasks import forecast

if __name__ == "__main__":
    enable_compilation_cache()
    raise SystemExit(report_errors("forecast_sp500.py",
                                   lambda: forecast.run(tyro.cli(forecast.Config))))
