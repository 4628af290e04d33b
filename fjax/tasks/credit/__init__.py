"""Credit scoring: PD models cross-validated as one compiled population, scorecards,
reason codes, calibration, cost-based decisions and stability.

    fjax run credit                  # logistic regression, 5-fold CV, German credit
    fjax run credit --model mlp      # MLP with category embeddings
"""

from fjax.tasks.credit.config import (Config, CreditDataConfig, CreditModelConfig,
                                      CreditTrainConfig, ScorecardConfig)
from fjax.tasks.credit.run import check_sweep_paths, run

__all__ = ["Config", "CreditDataConfig", "CreditModelConfig", "CreditTrainConfig",
           "ScorecardConfig", "check_sweep_paths", "run"]
