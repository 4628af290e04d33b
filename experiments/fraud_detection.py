"""Fraud detection end to end on the Fraud-Detection-Handbook's simulator: every fjax
model (amount rule, logistic regression, MLP, autoencoder, MLP + autoencoder, GRU)
on the handbook's 4 prequential test periods, beside the book's published figures.

    python experiments/fraud_detection.py                     # about 3 minutes on 2 CPU cores
    python experiments/fraud_detection.py --sweep.seeds 3 --out runs/fraud_3seeds

Writes runs/fraud_detection/ (report.md, metrics.json, members.csv, scores.csv.gz,
alerts.csv, daily.csv, plots, config.json, environment.json).
"""

import tyro

from fjax.cli import report_errors
from fjax.runtime import enable_compilation_cache
from fjax.tasks import fraud

ALL_MODELS = ("rule", "logistic", "mlp", "autoencoder", "combined", "gru")


def main() -> int:
    enable_compilation_cache()
    default = fraud.Config(name="fraud_detection", compare=ALL_MODELS)
    return report_errors("fraud_detection.py",
                         lambda: fraud.run(tyro.cli(fraud.Config, default=default)))


if __name__ == "__main__":
    raise SystemExit(main())
