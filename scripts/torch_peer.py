"""The peers' PyTorch reference model (../shared/peers/torch_lstm.py: same data, sizes,
training loop, threads and output line), with additions for fjax's benchmark:

  --cell gru   each `nn.LSTM` becomes an `nn.GRU`;
  --start      the output also holds the initial weights ("initial_state") and each
               epoch's row order ("epoch_orders"), so that fjax can train the same model
               from the same start on the same batches. The LSTMs' second bias
               (`bias_hh`, redundant with `bias_ih`) is folded into the first and frozen:
               the one-bias LSTM of Keras, flax and fjax. (With both trained, Adam moves
               their sum twice as far per step.) The output's "params" still counts
               the frozen biases.

The output line always carries "epoch_losses" (each epoch's mean training loss, as
torch_lstm.py logs them). Run with the peers' python from ../shared/peers, as
`bench_peers.run_peer` does:

    python /path/to/scripts/torch_peer.py --cell gru --epochs 5 --quiet
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd()))   # ../shared/peers: torch_lstm and common

try:
    import torch
    from torch import nn
except ModuleNotFoundError:
    sys.exit(f"torch_peer.py: PyTorch is not installed for {sys.executable}; run this script "
             "with the peers' python (../shared/peers/setup.sh), as bench_peers.run_peer does")
try:
    import common
    import torch_lstm
except ModuleNotFoundError as missing:
    sys.exit(f"torch_peer.py: no {missing.name}.py in {Path.cwd()}; run this script from "
             "../shared/peers, as bench_peers.run_peer does")


class StockGRU(torch_lstm.StockLSTM):
    """GRU(hidden, return sequences) -> GRU(hidden) -> Linear(25) -> Linear(H)."""

    def __init__(self, hidden: int = 50, horizon: int = 1, dense: int = 25):
        super().__init__(hidden, horizon, dense)
        self.lstm1 = nn.GRU(1, hidden, batch_first=True)
        self.lstm2 = nn.GRU(hidden, hidden, batch_first=True)


def make_gru(seed: int, hidden: int, horizon: int) -> StockGRU:
    torch.manual_seed(seed)
    return StockGRU(hidden, horizon)


def one_bias(model: nn.Module) -> nn.Module:
    """Fold each LSTM's `bias_hh_l0` into `bias_ih_l0` and freeze it at zero."""
    with torch.no_grad():
        for lstm in (model.lstm1, model.lstm2):
            lstm.bias_ih_l0 += lstm.bias_hh_l0
            lstm.bias_hh_l0.zero_()
            lstm.bias_hh_l0.requires_grad_(False)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--start", action="store_true")
    args, rest = parser.parse_known_args()
    if args.start and args.cell != "lstm":
        parser.error("--start is for the LSTM model")
    extra = {"epoch_losses": [], "epoch_orders": []}
    train, emit = torch_lstm.train, common.emit
    make_model = make_gru if args.cell == "gru" else torch_lstm.make_model
    make_loader = torch_lstm.make_loader

    def train_and_keep_losses(*a, **k):
        epoch_times, epoch_losses = train(*a, **k)
        extra["epoch_losses"] += epoch_losses
        return epoch_times, epoch_losses

    def make_model_from_start(*a):
        model = make_model(*a)
        if args.start:
            extra["initial_state"] = {k: v.tolist()
                                      for k, v in one_bias(model).state_dict().items()}
        return model

    def make_recording_loader(*a):
        loader = make_loader(*a)
        if args.start:   # the same sampler, which also records the order it yields
            sampler = type(loader.sampler)

            class Recording(sampler):
                def __iter__(self):
                    order = list(super().__iter__())
                    extra["epoch_orders"].append(order)
                    return iter(order)

            loader.sampler.__class__ = Recording
        return loader

    torch_lstm.train = train_and_keep_losses
    torch_lstm.make_model = make_model_from_start
    torch_lstm.make_loader = make_recording_loader
    common.emit = lambda result: emit({**result, "peer": f"torch_{args.cell}",
                                       **{k: v for k, v in extra.items() if v}})
    torch_lstm.main(rest)


if __name__ == "__main__":
    main()
