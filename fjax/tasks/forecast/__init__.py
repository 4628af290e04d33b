"""Forecasting prices and returns: multi-step windows, walk-forward origins as one
population, probabilistic heads, seed ensembles, and baselines on the same windows.

    fjax run forecast                                   # the S&P 500 tutorial, scored
    fjax run forecast --data.path my.csv --data.target price --data.horizon 5
    run(Config(data=ForecastDataConfig(origins=5)))     # walk-forward backtest
"""

from fjax.tasks.forecast.config import (Config, EvaluationConfig, ForecastDataConfig,
                                        ForecastLossConfig, ForecastModelConfig,
                                        ForecastTrainConfig)
from fjax.tasks.forecast.run import run
from fjax.tasks.forecast.training import check_sweep_paths

__all__ = ["Config", "EvaluationConfig", "ForecastDataConfig", "ForecastLossConfig",
           "ForecastModelConfig", "ForecastTrainConfig", "check_sweep_paths", "run"]
