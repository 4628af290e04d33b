"""PyTorch's GRU version of the peers' reference model: ../shared/peers/torch_lstm.py
with each `nn.LSTM` replaced by `nn.GRU` (same data, sizes, training loop, threads and
output line). Run with the peers' python from ../shared/peers, as `bench_peers.run_peer`
does:

    python /path/to/scripts/torch_gru_peer.py --epochs 5 --quiet
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))   # ../shared/peers: torch_lstm and common

import common  # noqa: E402
import torch  # noqa: E402
import torch_lstm  # noqa: E402
from torch import nn  # noqa: E402


class StockGRU(torch_lstm.StockLSTM):
    """GRU(hidden, return sequences) -> GRU(hidden) -> Linear(25) -> Linear(H)."""

    def __init__(self, hidden: int = 50, horizon: int = 1, dense: int = 25):
        super().__init__(hidden, horizon, dense)
        self.lstm1 = nn.GRU(1, hidden, batch_first=True)
        self.lstm2 = nn.GRU(hidden, hidden, batch_first=True)


def make_model(seed: int, hidden: int, horizon: int) -> StockGRU:
    torch.manual_seed(seed)
    return StockGRU(hidden, horizon)


def emit(result: dict) -> None:
    common_emit({**result, "peer": "torch_gru"})


if __name__ == "__main__":
    torch_lstm.make_model = make_model
    common_emit, common.emit = common.emit, emit
    torch_lstm.main()
