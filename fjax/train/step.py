"""Pure steps on ONE model: the public unit of reuse.

    train_step = make_train_step(loss_fn)
    state, metrics = jax.jit(train_step)(state, batch)

`loss_fn(params, batch, rng) -> (loss, aux)` where `aux` is a dict of metrics (arrays)
(or None) and `rng` is None in evaluation (no dropout). A model with state beside its
weights (flax's batch norm) keeps all its variables in `params` and returns the new
state in `aux["model_state"]` (what `apply(..., mutable=["batch_stats"])` returns): the
train step stores it in `params` after the gradient update, and it is no metric.

Both steps are plain functions: jit them, vmap them over a population, grad through
them, or put them in your own loop. The same `loss_fn` always gives the same step
function (`cached_per_loss`, for the latest losses used; an equal loss too), so jitted
callers that take it as a static argument compile once per loss.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import re
from typing import Any, Callable, Iterator, Mapping, Sequence

import flax.errors
import jax
import jax.numpy as jnp
import numpy as np

from fjax.train.state import TrainState, step_key

Batch = dict[str, jax.Array]
Metrics = dict[str, jax.Array]
MODEL_STATE = "model_state"   # the aux key of a model's new state (batch statistics)
LossFn = Callable[[Any, Batch, jax.Array | None], tuple[jax.Array, Metrics]]


class ParamsMisfit(ValueError):
    """Parameters that do not fit the model applied to these rows, in words; keeps flax's
    error (`flax_error`) so that a caller's `inputs_named` can name its own data."""

    def __init__(self, message: str, flax_error: Exception):
        super().__init__(message)
        self.flax_error = flax_error


@contextlib.contextmanager
def inputs_named(data: dict, name: str = "data['x'] (or val_data['x'])",
                 val_data: dict | None = None) -> Iterator[None]:
    """Parameters that do not fit the model applied fail inside flax; say why (the rows of
    `name`, or the model's widths) and how to fix it. Where `val_data`'s rows are shaped
    otherwise than `data`'s, both shapes are named: the training rows' alone blamed rows
    that fit."""
    try:
        yield
    except (flax.errors.ScopeParamShapeError, ParamsMisfit) as caught:
        err = getattr(caught, "flax_error", caught)   # a step's own, named anew by the caller
        if "x" not in data:   # a loss reading other keys: flax's own words
            raise err
        shape = jax.tree.map(lambda a: tuple(np.shape(a)[1:]), data["x"])
        xs = [data["x"]] + ([val_data["x"]] if val_data is not None and "x" in val_data else [])
        features = {np.shape(a)[-1] for x in xs for a in jax.tree.leaves(x) if np.ndim(a) > 1}
        val_shape = jax.tree.map(lambda a: tuple(np.shape(a)[1:]), xs[-1])
        if val_shape != shape:
            name, shape = f"data['x'] of shape {shape} or val_data['x']", val_shape
        widths = other_widths(str(err), features)
        if widths:
            raise ParamsMisfit(
                f"the parameters come from a model of other widths than the one applied "
                f"(its out_dim or a hidden size differs, not the rows of {name}): {widths}. "
                "Build them with the model that is applied, e.g. model.init(key, x[:1]) with "
                "out_dim=output_dim(loss_config, y.shape[1:]) (num_classes= for "
                "softmax_ce)", err) from None
        raise ParamsMisfit(
            f"the model's parameters do not fit rows of {name} of shape {shape}: {err} "
            "Build them from an example of these rows, e.g. model.init(key, x[:1])", err) from None


_PARAM_SHAPES = re.compile(r'parameter "(.*?)" in "(.*?)", the given initializer is expected '
                           r'to generate shape (\(.*?\)), but the existing parameter it '
                           r'received has shape (\(.*?\))')


def other_widths(flax_message: str, features: set[int]) -> str | None:
    """From flax's ScopeParamShapeError message, the mismatch in words where only a
    parameter's last axis differs (a layer's output width: out_dim or a hidden size),
    else None (the inputs' shape differs). A 1-D parameter the size of the inputs'
    features (a norm over the inputs) is the inputs'."""
    found = _PARAM_SHAPES.search(flax_message)
    if not found:
        return None
    param, path = found.group(1), found.group(2)
    made, held = (ast.literal_eval(found.group(i)) for i in (3, 4))
    if (len(made) != len(held) or not made or made[:-1] != held[:-1] or made == held
            or (len(made) == 1 and made[0] in features)):
        return None
    return (f'parameter "{param}" in "{path}" has shape {held}, where the model applied '
            f"makes {made}")


class _Identity:
    """A cache key that is its unhashable object's identity (a dataclass with `__call__`
    has no hash)."""
    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Identity) and self.obj is other.obj


LOSS_CACHE_SIZE = 64   # losses whose steps are kept; older ones are freed


def cached_per_loss(build: Callable) -> Callable:
    """`build(loss_fn, *args)`, made once per loss function and `args`, for the latest
    `LOSS_CACHE_SIZE` of them, so repeated runs of one loss reuse its compiled program
    (unhashable `args` are built every time).
    A hashable loss is one with every loss equal to it (`supervised_loss`'s of equal
    models and configs, as jit's static arguments are), another by identity. Bounded
    because what it builds holds the loss (a weak key would be kept alive by its own
    value), and the loss itself is left untouched."""
    cache = functools.lru_cache(maxsize=LOSS_CACHE_SIZE)(
        lambda key, *args: build(key.obj if isinstance(key, _Identity) else key, *args))

    @functools.wraps(build)
    def cached(loss_fn, *args):
        try:
            hash(args)
        except TypeError:   # not cacheable: built every time
            return build(loss_fn, *args)
        try:
            hash(loss_fn)
        except TypeError:
            return cache(_Identity(loss_fn), *args)
        return cache(loss_fn, *args)
    return cached


@cached_per_loss
def make_train_step(loss_fn: LossFn) -> Callable[[TrainState, Batch], tuple[TrainState, Metrics]]:
    """`train_step(state, batch) -> (state, metrics)`: one gradient update."""

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, Metrics]:
        grad_fn = jax.value_and_grad(contract_checked(loss_fn), has_aux=True)
        with inputs_named(batch, "batch['x']"):   # when traced only
            (loss, aux), grads = grad_fn(state.params, batch, step_key(state))
        metrics = dict(aux or {})
        model_state = metrics.pop(MODEL_STATE, None)
        state = state.apply_gradients(grads)
        if model_state:
            state = state.replace(params=with_model_state(state.params, model_state))
        return state, {"loss": loss, **metrics}

    return train_step


def contract_checked(loss_fn: LossFn) -> LossFn:
    """`loss_fn`, refusing when traced a return that jax's gradient cannot take (a bare
    loss, a loss per row, an integer loss) with `loss_output_problem`'s message, where
    jax's own error names a tracer type rather than the fix, and batch statistics left to
    the optimizer (`model_state_problem`: a loop of one's own runs no `check_loss_fn`).
    Nothing runs per step."""

    def checked(params: Any, batch: Batch, rng: jax.Array | None):
        out = loss_fn(params, batch, rng)
        core = (out[0], None) if isinstance(out, tuple) and len(out) == 2 else out
        # a batch may hold scalars of its own (a temperature): count rows of arrays only
        rows = [a for a in jax.tree.leaves(batch) if jnp.ndim(a)]
        problem = (loss_output_problem(core, n_rows=jnp.shape(rows[0])[0] if rows else 0)
                   or model_state_problem(params, out[1]))
        if problem:
            raise ValueError(problem)
        return out
    return checked


@cached_per_loss
def make_eval_step(loss_fn: LossFn) -> Callable[[Any, Batch], Metrics]:
    """`eval_step(params, batch) -> metrics`: the loss and aux metrics without dropout."""

    def eval_step(params: Any, batch: Batch) -> Metrics:
        loss, aux = loss_fn(params, batch, None)
        metrics = dict(aux or {})
        metrics.pop(MODEL_STATE, None)
        return {"loss": loss, **metrics}

    return eval_step


def with_model_state(params: Any, model_state: Mapping[str, Any]) -> Any:
    """`params` with the collections in `model_state` (e.g. "batch_stats") replaced, in
    their dtypes. Each must already be in `params`, in the same structure: the state is
    one pytree from epoch to epoch."""
    if not isinstance(params, Mapping) or not set(model_state) <= set(params):
        have = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"the loss returned aux['model_state'] with {sorted(model_state)}, "
                         f"but the parameters hold {have}; create the TrainState with "
                         "all the model's variables, params=model.init(key, x)")
    for name, new in model_state.items():
        if jax.tree.structure(new) != jax.tree.structure(params[name]):
            raise ValueError(f"aux['model_state'][{name!r}] is not shaped like "
                             f"params[{name!r}]; return what apply(..., "
                             f"mutable=[{name!r}]) returns for it")
    updated = {name: jax.tree.map(lambda a, old: a.astype(old.dtype), new, params[name])
               for name, new in model_state.items()}
    return type(params)({**params, **updated})   # a dict, or flax's FrozenDict


def check_loss_fn(loss_fn: LossFn, params: Any, data: dict, weights: np.ndarray,
                  batch_size: int, n_batches: int, val_weights: np.ndarray | None = None,
                  eval_batch_size: int = 0, hparams: Sequence[str] = ()) -> None:
    """Refuse a loss that breaks the contract before anything compiles, where jax's own
    errors would not say what is wrong: it must return (a float scalar, a dict of metrics
    or None) (`loss_output_problem`), and read batch["weight"] where that matters
    (`weight_matters` in training; `eval_weight_matters` on `val_weights` in batches of
    `eval_batch_size`, given where the loss also evaluates), and return the new batch
    statistics where `params` hold them (`model_state_problem`). Traced once per loss,
    shapes and `hparams` (the names of the loss hyperparameters passed as `hparams=`,
    float32 scalars of no known value, as training traces each member's: a sweep of new
    values traces nothing), on a batch of two rows; the operations that only make aux
    metrics are removed from the weight check."""
    member = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), params)
    rows = {k: jax.ShapeDtypeStruct((2,) + v.shape[1:], v.dtype) for k, v in data.items()}
    key = (jax.tree.structure(member), *((a.shape, a.dtype) for a in jax.tree.leaves(member)),
           *sorted((k, a.shape, a.dtype) for k, a in rows.items()),
           tuple(sorted(hparams)))
    verdicts = _loss_verdicts(loss_fn)
    if key not in verdicts:     # one trace per loss and shapes: fits in a loop reuse it
        hp = {k: jax.ShapeDtypeStruct((), jnp.float32) for k in hparams}
        verdicts[key] = _trace_verdict(loss_fn, member, rows, hp)
    problem, reads_weight = verdicts[key]
    if problem:
        raise ValueError(problem)
    matters = weight_matters(np.asarray(weights), batch_size, n_batches) or (
        val_weights is not None and eval_weight_matters(np.asarray(val_weights), eval_batch_size))
    if matters and not reads_weight:
        raise ValueError(
            "loss_fn's loss does not read batch['weight'], but batches (of training or of "
            "validation) hold rows that must not count as they are: padding of the last "
            "batch (weight 0), rows outside a fold or a 0/1 mask, or sample weights. Weight "
            "each row's loss, e.g. jnp.sum(batch['weight'] * per_row) / "
            "jnp.maximum(jnp.sum(batch['weight']), 1e-12)")


@cached_per_loss
def _loss_verdicts(loss_fn: LossFn) -> dict:
    """`check_loss_fn`'s verdicts on `loss_fn`, by parameter and data shapes."""
    return {}


def _trace_verdict(loss_fn: LossFn, member: Any, rows: dict,
                   hparams: Mapping[str, Any]) -> tuple[str | None, bool]:
    """(what breaks the contract or None, whether the loss reads batch["weight"]), from
    one shapes-only trace on a batch of two rows."""
    problems = []

    def loss_of(weight, params, rows, hp):
        extra = {"hparams": hp} if hp else {}
        out = loss_fn(params, {**rows, "weight": weight}, jax.random.PRNGKey(0), **extra)
        problems.append(loss_output_problem(out, n_rows=2)
                        or model_state_problem(params, out[1]))
        return jnp.zeros(()) if problems[-1] else out[0]
    closed = jax.make_jaxpr(loss_of)(jax.ShapeDtypeStruct((2,), jnp.float32), member, rows,
                                     dict(hparams))
    return problems[-1], not problems[-1] and reaches_output(closed.jaxpr, 0)


def weight_matters(weights: np.ndarray, batch_size: int, n_batches: int) -> bool:
    """Whether some batch row has a weight other than 1: the last batch's padding (weight
    0, which is the rows outside a fold: its validation rows) or sample weights."""
    full = n_batches * batch_size <= (weights > 0).sum(axis=-1).min()
    return not (full and np.all((weights == 0) | (weights == 1)))


def eval_weight_matters(weights: np.ndarray, batch_size: int) -> bool:
    """Whether evaluation batches (`evaluate`: every row in order, in batches of
    `batch_size`) hold a row of weight other than 1: the last batch's padding, or rows
    masked out or weighted, which evaluation keeps in its batches (unlike training)."""
    n = weights.shape[-1]
    batch = min(batch_size, n)
    return -(-n // batch) * batch > n or not np.all(weights == 1)


_ARRAY = (jax.Array, np.ndarray, np.generic, int, float)   # what a traced value may be
_CONTRACT = ("loss_fn must return (loss, aux): a float scalar loss and a dict of metrics "
             "(name -> array) or None")


def loss_output_problem(out: Any, n_rows: int) -> str | None:
    """What is wrong with `out`, one call's return on a batch of `n_rows` rows, by
    `LossFn`'s contract (None if nothing): the message states the contract and the fix."""
    if not (isinstance(out, tuple) and len(out) == 2):
        got = (f"a {type(out).__name__} of {len(out)} items" if isinstance(out, (tuple, list))
               else f"a single array of shape {jnp.shape(out)}" if isinstance(out, _ARRAY)
               else f"a {type(out).__name__}")
        return f"{_CONTRACT}; got {got}. Return e.g. `loss, {{}}` for no metrics"
    loss, aux = out
    if not isinstance(loss, _ARRAY):
        return f"{_CONTRACT}; its loss is a {type(loss).__name__}"
    if jnp.shape(loss) != ():
        return (f"{_CONTRACT}; its loss has shape {jnp.shape(loss)} on a batch of {n_rows} "
                "rows. Reduce the per-row losses to one number, their weighted mean: "
                "jnp.sum(batch['weight'] * per_row) / jnp.maximum(jnp.sum(batch['weight']), "
                "1e-12)")
    if not jnp.issubdtype(jnp.result_type(loss), jnp.floating):
        return (f"{_CONTRACT}; its loss is {jnp.result_type(loss)}, which has no gradient. "
                "Compute it in floats (no cast to an integer or bool type)")
    if aux is None:
        return None
    if not isinstance(aux, Mapping):
        return (f"{_CONTRACT}; its aux is a {type(aux).__name__}. Name each metric: "
                "e.g. {'accuracy': acc}, or {} for none")
    for name, value in aux.items():
        if not isinstance(name, str):
            return f"{_CONTRACT}; aux key {name!r} is not a name (a str)"
        if name == "loss":
            return (f"{_CONTRACT}; aux may not hold 'loss', the name the loss itself is "
                    "recorded under. Rename the metric")
        if name != MODEL_STATE and not isinstance(value, _ARRAY):
            return (f"{_CONTRACT}; aux[{name!r}] is a {type(value).__name__}, not one array "
                    "(a scalar, or e.g. one value per class). Give each metric its own key")
    return None


def model_state_problem(params: Any, aux: Any) -> str | None:
    """Why a training-mode `aux` is wrong for `params` holding batch statistics (None if
    it is not): without aux["model_state"] the statistics get no new values, yet sit in
    `params`, so the optimizer would train them as weights, silently (a model keyed on
    `train` run by supervised_loss, which passes only `deterministic`, does just that).
    A model whose statistics stay fixed on purpose returns aux["model_state"] = {}."""
    if not (isinstance(params, Mapping) and "batch_stats" in params):
        return None
    if isinstance(aux, Mapping) and MODEL_STATE in aux:
        return None
    return ("params hold a 'batch_stats' collection (batch norm's running statistics), but "
            "in training mode the loss's aux has no 'model_state': the model ran on its "
            "running averages (supervised_loss passes `deterministic`, and a model keyed "
            "on `train` never sees it), or the loss drops the new statistics, so the "
            "optimizer would train the running mean and variance as weights. Write a loss "
            "that applies the model in training mode (train=True) with "
            "mutable=['batch_stats'] and mask=batch['weight'][:, None] > 0, and returns "
            "the new statistics as aux['model_state'] (README, 'Batch norm:'; "
            "docs/DEVELOPING.md, 'Training core'). Statistics frozen on purpose: return "
            "aux['model_state'] = {} and keep the optimizer off them")


def reaches_output(jaxpr: Any, index: int) -> bool:
    """Whether input `index` of `jaxpr` feeds its outputs, walking its equations backwards
    (public fields only). A nested call counts all its inputs as read, so the answer errs
    towards True: a loss is never refused for a weight it does read."""
    needed = {id(v) for v in jaxpr.outvars}
    for eqn in reversed(jaxpr.eqns):
        if any(id(v) in needed for v in eqn.outvars):
            needed.update(id(v) for v in eqn.invars)
    return id(jaxpr.invars[index]) in needed
