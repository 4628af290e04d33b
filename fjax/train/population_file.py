"""A trained `Population` as one file, to predict with and inspect later.

One msgpack file (`flax.serialization`, which `fjax.train` imports anyway; orbax, kept
for checkpoints, is slow to import and writes a directory per save): the stacked
parameters, the loop's per-member arrays (best and last parameters, best epoch, epochs
run, divergence), the members table column by column, the history and the run's
timings. It is written under a temporary name beside the target and renamed
(`fjax.runtime.write_atomic`), so a reader never sees a partial file. Pickling a
`Population` goes through the same bytes.

The optimizer state is left out (a loaded loop's `train.opt_state` and `train.tx` are
None): its structure is the optimizer's, functions a file cannot hold, and a finished
population is for predicting and reading. To train on, resume from a `Checkpointer`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import serialization

from fjax.train.loop import LoopState
from fjax.train.state import TrainState

FORMAT, VERSION = "fjax.Population", 1
LOOP_ARRAYS = ("best_score", "best_epoch", "bad_epochs", "stopped", "diverged_epoch", "epoch")
RUN_VALUES = ("monitor", "mode", "compile_s", "compilations", "train_s", "epoch_s",
              "resumed_epoch")


def _part(key: Any) -> str:
    """One step of a leaf's path: a dict key, a sequence index or an attribute name."""
    return str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key))))


def _encode_tree(tree: Any) -> dict:
    """A pytree as its leaves (numpy), their paths and its structure's text."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {"paths": [[_part(k) for k in path] for path, _ in flat],
            "leaves": [np.asarray(leaf) for _, leaf in flat],
            "structure": str(jax.tree.structure(tree))}


def population_bytes(pop: Any) -> bytes:
    """Everything `Population.load` needs, as msgpack bytes."""
    loop = pop.loop
    return serialization.msgpack_serialize({
        "format": FORMAT, "version": VERSION,
        "params": _encode_tree(pop.params),
        "best_params": _encode_tree(loop.best_params),
        "last_params": _encode_tree(loop.train.params),
        "loop": {name: np.asarray(getattr(loop, name)) for name in LOOP_ARRAYS}
        | {"step": np.asarray(loop.train.step), "rng": np.asarray(loop.train.rng)},
        "members": {"columns": [str(c) for c in pop.members.columns],
                    "values": [pop.members[c].to_numpy() for c in pop.members.columns]},
        "history": [dict(logs) for logs in pop.history],
        "run": {name: getattr(pop, name) for name in RUN_VALUES} | {
            "epoch_s": [float(s) for s in pop.epoch_s],
            "initial_loss": np.asarray(pop.initial_loss, np.float64)},   # older files lack it
    })


def read_population(path: str | os.PathLike, like: Any = None) -> dict:
    """The `Population` fields saved at `path` (see `population_fields`)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no population file at {path}; write one with "
                                "Population.save(path)")
    return population_fields(Path(path).read_bytes(), str(path), like)


def population_fields(data: bytes, source: str, like: Any = None) -> dict:
    """`Population(**fields)` from `population_bytes`' output; `source` names it in errors.
    Parameters come back as nested dicts (flax's), or shaped like `like` (one member's
    parameters, e.g. `init_fn(key)`), which they must then fit leaf by leaf."""
    saved = _decode(data, source)
    members = pd.DataFrame(dict(zip(saved["members"]["columns"], saved["members"]["values"])))
    trees = {name: _decode_tree(saved[name], source, name, len(members), like)
             for name in ("params", "best_params", "last_params")}
    arrays = {name: jnp.asarray(value) for name, value in saved["loop"].items()}
    _check_stacked({k: v.shape for k, v in arrays.items()}, len(members), source, "loop arrays")
    loop = LoopState(train=TrainState(params=trees["last_params"], opt_state=None,
                                      step=arrays.pop("step"), rng=arrays.pop("rng"), tx=None),
                     best_params=trees["best_params"], **arrays)
    return dict(loop=loop, params=trees["params"], members=members, history=saved["history"],
                **saved["run"])


def _decode(data: bytes, source: str) -> dict:
    """The saved dict, after checking that it is a population file this fjax reads."""
    try:
        saved = serialization.msgpack_restore(data)
    except Exception as err:   # msgpack raises several types for damaged bytes
        raise ValueError(f"{source} is not a readable population file (damaged or cut "
                         f"short?): {type(err).__name__}: {err}") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise ValueError(f"{source} is not a file written by Population.save")
    if saved.get("version") != VERSION:
        raise ValueError(f"{source} is in population file format {saved.get('version')!r}; "
                         f"this fjax reads format {VERSION}: load it with the fjax that saved it")
    wanted = ("params", "best_params", "last_params", "loop", "members", "history", "run")
    missing = [k for k in wanted if k not in saved]
    missing += [f"loop/{k}" for k in (*LOOP_ARRAYS, "step", "rng")
                if k not in saved.get("loop", {})]
    missing += [f"run/{k}" for k in RUN_VALUES if k not in saved.get("run", {})]
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}: it is damaged")
    return saved


def _decode_tree(saved: dict, source: str, field: str, size: int, like: Any) -> Any:
    """A stacked pytree from `_encode_tree`'s output, as nested dicts or shaped like
    `like` (one member's tree)."""
    paths = [tuple(p) for p in saved["paths"]]
    leaves = [jnp.asarray(leaf) for leaf in saved["leaves"]]
    _check_stacked({"/".join(p): leaf.shape for p, leaf in zip(paths, leaves)}, size, source,
                   f"{field} leaves")
    if like is None:
        tree = _nested(paths, leaves)
        if str(jax.tree.structure(tree)) != saved["structure"]:
            raise ValueError(
                f"the {field} in {source} are not nested dicts but {saved['structure']}; "
                "pass like= one member's parameters (e.g. init_fn(key)) to rebuild them")
        return tree
    flat, treedef = jax.tree_util.tree_flatten_with_path(like)
    arrays = [leaf if hasattr(leaf, "dtype") else np.asarray(leaf) for _, leaf in flat]
    wanted = {tuple(_part(k) for k in path): (tuple(a.shape), str(a.dtype))
              for (path, _), a in zip(flat, arrays)}
    stored = {p: (tuple(leaf.shape[1:]), str(leaf.dtype)) for p, leaf in zip(paths, leaves)}
    differ = sorted((p not in stored or p not in wanted, p)   # shapes that differ first
                    for p in set(stored) | set(wanted) if stored.get(p) != wanted.get(p))
    if differ:
        shown = "; ".join(f"{'/'.join(p)}: {stored.get(p, 'absent')} in the file, "
                          f"{wanted.get(p, 'absent')} in like" for _, p in differ[:4])
        raise ValueError(f"the {field} in {source} do not fit `like` (another model?); "
                         f"{len(differ)} leaves (shape per member, dtype) differ: {shown}")
    by_path = dict(zip(paths, leaves))
    return jax.tree.unflatten(treedef, [by_path[tuple(_part(k) for k in path)]
                                        for path, _ in flat])


def _nested(paths: list[tuple], leaves: list) -> Any:
    """Nested dicts from each leaf's path (a tree of one leaf is that leaf)."""
    if paths == [()]:
        return leaves[0]
    root: dict = {}
    for path, leaf in zip(paths, leaves):
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = leaf
    return root


def _check_stacked(shapes: dict[str, tuple], size: int, source: str, what: str) -> None:
    """Each array (name -> shape) of a file holding `size` members is stacked over them."""
    wrong = {name: shape for name, shape in shapes.items() if not shape or shape[0] != size}
    if wrong:
        shown = dict(list(wrong.items())[:4])
        raise ValueError(f"{source} holds {size} members but its {what} {shown} are not "
                         f"stacked over {size}: it is damaged")
