import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from fjax.config import OptimConfig
from fjax.optim import build_optimizer, schedule_shape, set_hyperparams, shape_at

PARAMS = {"dense": {"kernel": jnp.array([[1.0, -2.0], [0.5, 3.0]]), "bias": jnp.array([0.3, -0.1])}}
GRADS = jax.tree.map(lambda p: 0.1 * p + 0.05, PARAMS)


def run(tx, steps=3):
    """Steps with gradients that change sign and size (with constant ones, Adam's first
    moment, b1, cancels out of the update)."""
    state, params = tx.init(PARAMS), PARAMS
    for t in range(steps):
        grads = jax.tree.map(lambda g: g * (1.0 + t) * (-1.0) ** t, GRADS)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize("cfg, reference", [
    (OptimConfig(name="sgd", learning_rate=0.1), optax.sgd(0.1)),
    (OptimConfig(name="momentum", learning_rate=0.1, momentum=0.8), optax.sgd(0.1, momentum=0.8)),
    (OptimConfig(name="nesterov", learning_rate=0.1), optax.sgd(0.1, momentum=0.9, nesterov=True)),
    (OptimConfig(name="adagrad", learning_rate=0.1), optax.adagrad(0.1)),
    (OptimConfig(name="rmsprop", learning_rate=0.01), optax.rmsprop(0.01, momentum=0.0)),
    (OptimConfig(name="adam", learning_rate=0.01), optax.adam(0.01)),
    (OptimConfig(name="adamw", learning_rate=0.01, weight_decay=0.1),
     optax.adamw(0.01, weight_decay=0.1,
                 mask=lambda p: {"dense": {"kernel": True, "bias": False}})),
    (OptimConfig(name="adamw", learning_rate=0.01, weight_decay=0.1, momentum=0.5),
     optax.adamw(0.01, b1=0.5, weight_decay=0.1,
                 mask=lambda p: {"dense": {"kernel": True, "bias": False}})),
    (OptimConfig(name="adam", learning_rate=0.01, clip_norm=0.05),
     optax.chain(optax.clip_by_global_norm(0.05), optax.adam(0.01))),
    (OptimConfig(name="sgd", learning_rate=0.1, weight_decay=0.5),
     optax.chain(optax.add_decayed_weights(
                     0.5, mask=lambda p: {"dense": {"kernel": True, "bias": False}}),
                 optax.sgd(0.1))),
])
def test_matches_plain_optax(cfg, reference):
    ours, theirs = run(build_optimizer(cfg, 100)), run(reference)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7), ours, theirs)


def test_schedules_match_optax():
    total = 50
    for cfg, ref in [
        (OptimConfig(schedule="cosine"), optax.cosine_decay_schedule(1.0, total)),
        (OptimConfig(schedule="warmup_cosine", warmup_steps=5, final_factor=0.1),
         optax.warmup_cosine_decay_schedule(0.0, 1.0, 5, total, end_value=0.1)),
        (OptimConfig(schedule="exponential", decay_steps=10, decay_rate=0.5),
         optax.exponential_decay(1.0, 10, 0.5)),
    ]:
        shape = schedule_shape(cfg, total)
        for step in (0, 3, 17, 49):
            np.testing.assert_allclose(shape(step), ref(step), rtol=1e-6)


@pytest.mark.parametrize("cfg, reference", [
    (OptimConfig(schedule="cosine"), lambda t: optax.cosine_decay_schedule(1.0, t)),
    (OptimConfig(schedule="cosine", final_factor=0.1),
     lambda t: optax.cosine_decay_schedule(1.0, t, alpha=0.1)),
    (OptimConfig(schedule="warmup_cosine", warmup_steps=5, final_factor=0.1),
     lambda t: optax.warmup_cosine_decay_schedule(0.0, 1.0, 5, t, end_value=0.1)),
    (OptimConfig(schedule="warmup_cosine"),
     lambda t: optax.warmup_cosine_decay_schedule(0.0, 1.0, 0, t)),
], ids=["cosine", "cosine_final", "warmup_cosine", "no_warmup"])
def test_schedules_of_a_traced_length_match_optax(cfg, reference):
    """A population member's schedule length is an injected array, not a Python int: the
    jnp shapes equal optax's own schedules built with that length as an int."""
    traced = jax.jit(lambda count, total: shape_at(cfg, count, total))
    for total in (7, 50, 1000):
        ref = reference(total)
        for step in (0, 1, 3, 5, 6, total // 2, total - 1, total, total + 4):
            np.testing.assert_allclose(traced(jnp.int32(step), jnp.int32(total)), ref(step),
                                       rtol=1e-6, atol=1e-7)


def test_an_injected_length_equals_an_optimizer_built_with_it():
    """Setting `schedule_steps` in the state is the schedule `build_optimizer` builds
    for that length: how each population member gets its own."""
    cfg = OptimConfig(name="sgd", learning_rate=1.0, schedule="cosine")
    longer, own = build_optimizer(cfg, 100), build_optimizer(cfg, 10)
    state = set_hyperparams(longer.init(PARAMS), {"schedule_steps": 10})
    ref_state = own.init(PARAMS)
    for _ in range(7):
        updates, state = longer.update(GRADS, state, PARAMS)
        ref_updates, ref_state = own.update(GRADS, ref_state, PARAMS)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), updates,
                     ref_updates)


def test_exponential_decay_is_smooth():
    """OptimConfig.decay_rate's doc said 'applied every decay_steps steps', a staircase;
    the rate decays at every step: decay_rate ** (step / decay_steps)."""
    shape = schedule_shape(OptimConfig(schedule="exponential", decay_steps=10,
                                       decay_rate=0.5), 50)
    for step in (3, 17):
        np.testing.assert_allclose(shape(step), 0.5 ** (step / 10), rtol=1e-6)


def test_schedule_scales_the_injected_rate():
    cfg = OptimConfig(name="sgd", learning_rate=0.2, schedule="exponential", decay_steps=1,
                      decay_rate=0.5)
    tx = build_optimizer(cfg, 10)
    ref = optax.sgd(optax.exponential_decay(0.2, 1, 0.5))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), run(tx), run(ref))


def test_hyperparameters_are_state_not_program():
    """Setting the rate in the state equals building the optimizer with that rate."""
    tx = build_optimizer(OptimConfig(name="adam", learning_rate=1e-3), 10)
    state = set_hyperparams(tx.init(PARAMS), {"learning_rate": 0.05})
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(0.05)
    updates, _ = tx.update(GRADS, state, PARAMS)
    ref_tx = optax.adam(0.05)
    ref_updates, _ = ref_tx.update(GRADS, ref_tx.init(PARAMS), PARAMS)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), updates, ref_updates)


def test_vmapped_members_keep_their_own_clip_norms():
    """Clipping inside a vmapped update uses each member's own gradient norm."""
    tx = build_optimizer(OptimConfig(name="sgd", learning_rate=1.0, clip_norm=1.0), 10)
    grads = {"w": jnp.array([[3.0, 4.0], [0.3, 0.4]])}  # member norms 5 and 0.5
    params = {"w": jnp.zeros((2, 2))}
    states = jax.vmap(tx.init)(params)
    updates, _ = jax.vmap(tx.update)(grads, states, params)
    np.testing.assert_allclose(updates["w"], [[-0.6, -0.8], [-0.3, -0.4]], rtol=1e-6)


def test_unknown_hyperparameter_is_rejected():
    tx = build_optimizer(OptimConfig(), 10)
    with pytest.raises(ValueError, match="unknown optimizer hyperparameters.*lr"):
        set_hyperparams(tx.init(PARAMS), {"lr": 0.1})


def _run(tx, steps=5):
    """Gradients that change every step: a constant gradient hides beta1 (Adam's bias
    correction makes m_hat == g) and clipping order."""
    state, params = tx.init(PARAMS), PARAMS
    for t in range(steps):
        grads = jax.tree.map(lambda p: (0.3 + 0.7 * ((-1) ** t)) * p + 0.05 * t, params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return params


def _close(a, b):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7), a, b)


@pytest.mark.parametrize("cfg, reference", [
    (OptimConfig(name="rmsprop", learning_rate=0.01, momentum=0.9),
     optax.rmsprop(0.01, momentum=0.9)),
    (OptimConfig(name="adamw", learning_rate=0.01, weight_decay=0.1),      # default b1 0.9
     optax.adamw(0.01, b1=0.9, weight_decay=0.1,
                 mask=lambda p: {"dense": {"kernel": True, "bias": False}})),
    (OptimConfig(name="adam", learning_rate=0.1, clip_norm=0.01),         # clip the gradient,
     optax.chain(optax.clip_by_global_norm(0.01), optax.adam(0.1))),      # not the update
])
def test_optimizers_match_optax_on_changing_gradients(cfg, reference):
    _close(_run(build_optimizer(cfg, 100)), _run(reference))


def test_cosine_schedule_ends_at_final_factor():
    ref = optax.cosine_decay_schedule(1.0, 50, alpha=0.1)
    shape = schedule_shape(OptimConfig(schedule="cosine", final_factor=0.1), 50)
    for step in (0, 17, 49, 50, 80):
        np.testing.assert_allclose(shape(step), ref(step), rtol=1e-6)
    assert float(shape(50)) == pytest.approx(0.1)


@pytest.mark.parametrize("warmup, total", [(5, 1), (500, 100), (100, 100)])
def test_a_warmup_as_long_as_the_run_is_refused_not_cut(warmup, total):
    """--optim.warmup-steps 500 in a 100-step run was cut to 99: the whole run a ramp to the
    peak rate at its last step, never the cosine decay asked for."""
    cfg = OptimConfig(schedule="warmup_cosine", warmup_steps=warmup)
    with pytest.raises(ValueError, match=rf"OptimConfig.warmup_steps is {warmup}, but this "
                       rf"run takes only {total} optimizer steps \(epochs x batches per "
                       rf"epoch\).*warmup_cosine.*--optim.warmup-steps below {total}.*"
                       r"--train.epochs"):
        build_optimizer(cfg, total)
    shape = schedule_shape(cfg, warmup + 1)     # one step longer: the warm-up then ends
    assert float(shape(warmup)) == pytest.approx(1.0) and float(shape(0)) == 0.0


@pytest.mark.parametrize("kind", ["mlp", "lstm", "gru", "cnn"])
@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_weight_decay_spares_every_bias(kind, name):
    """The recurrent layers name their biases b, b_ih and b_hn; a mask on the name "bias"
    decayed them. With zero gradients, the only update is the decay: on matrices only."""
    from fjax.config import ModelConfig
    from fjax.models import build_model
    x = jnp.ones((1, 6, 3)) if kind != "mlp" else jnp.ones((1, 3))
    model = build_model(ModelConfig(kind=kind, hidden=(4,)), out_dim=1)
    params = jax.tree.map(lambda a: a + 1.0, model.init(jax.random.PRNGKey(0), x))
    tx = build_optimizer(OptimConfig(name=name, learning_rate=1.0, weight_decay=0.1), 10)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), tx.init(params), params)
    flat = jax.tree_util.tree_flatten_with_path(updates)[0]
    names = {jax.tree_util.keystr(path) for path, u in flat if u.ndim == 1}
    assert names and any("b" in n for n in names)
    for path, u in flat:
        decayed = bool(jnp.any(u != 0))
        assert decayed == (u.ndim > 1), jax.tree_util.keystr(path)


@pytest.mark.parametrize("steps", [0, -3, 2.5])
def test_a_run_of_no_optimizer_steps_is_refused_not_taken_as_one(steps):
    """build_optimizer(cfg, 0) quietly built a one-step cosine schedule."""
    with pytest.raises(ValueError, match=rf"total_steps must be an integer >= 1.*{steps!r}"):
        build_optimizer(OptimConfig(schedule="cosine"), steps)


@pytest.mark.parametrize("schedule", ["cosine", "warmup_cosine"])
def test_a_cosine_longer_than_int32_counts_is_refused(schedule):
    """Its length is injected as int32, as optax counts steps: 2**31 steps wrapped to a
    negative length. The largest int32 is accepted, one more refused by name."""
    cfg = OptimConfig(schedule=schedule, warmup_steps=5 if schedule == "warmup_cosine" else 0)
    largest = 2**31 - 1
    build_optimizer(cfg, largest)
    with pytest.raises(ValueError, match=r"2147483648 optimizer steps.*--train.epochs"):
        build_optimizer(cfg, largest + 1)
    build_optimizer(OptimConfig(schedule="exponential"), largest + 1)   # no length read


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                  "adamw"])
def test_the_optimizer_state_is_flat_vectors(name):
    """The stateful part runs on one vector of every parameter (optax.flatten): its update
    is a few fused operations whatever the number of leaves, which measured 12-14% off a
    16-member LSTM sweep on a CPU (BENCHMARKS.md). Every state array beside the injected
    hyperparameters and step counts is one vector as long as all the parameters."""
    state = build_optimizer(OptimConfig(name=name, weight_decay=0.1), 10).init(PARAMS)
    size = sum(leaf.size for leaf in jax.tree.leaves(PARAMS))
    shapes = [jnp.shape(leaf) for leaf in jax.tree.leaves(state.inner_state)]
    vectors = [shape for shape in shapes if shape != ()]          # the rest: step counts
    assert vectors == [(size,)] * len(vectors)
    assert vectors or name == "sgd"


def _torch_step(name: str, p, g, state: dict, lr: float, mom: float, wd: float,
                decay: np.ndarray) -> np.ndarray:
    """One step of torch.optim's update rule (its documented pseudocode, float64 numpy)
    with the hyperparameters docs/FROM_PYTORCH.md names as fjax's equivalents; `decay`
    masks the weight decay to the kernel, as fjax does."""
    t = state["t"] = state.get("t", 0) + 1
    if name == "adamw":
        p = p - lr * wd * decay * p
    else:
        g = g + wd * decay * p
    if name in ("momentum", "nesterov"):
        buf = state["buf"] = mom * state["buf"] + g if "buf" in state else g
        return p - lr * (g + mom * buf if name == "nesterov" else buf)
    if name == "adagrad":   # torch.optim.Adagrad(initial_accumulator_value=0.1)
        s = state["sum"] = state.get("sum", 0.1) + g * g
        return p - lr * g / (np.sqrt(s) + 1e-10)
    if name == "rmsprop":   # torch.optim.RMSprop(alpha=0.9, momentum=mom)
        v = state["v"] = 0.9 * state.get("v", 0.0) + 0.1 * g * g
        buf = state["buf"] = mom * state.get("buf", 0.0) + g / (np.sqrt(v) + 1e-8)
        return p - lr * buf
    m = state["m"] = mom * state.get("m", 0.0) + (1 - mom) * g   # Adam, AdamW
    v = state["v"] = 0.999 * state.get("v", 0.0) + 0.001 * g * g
    return p - lr * (m / (1 - mom ** t)) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8)


@pytest.mark.parametrize("name, momentum, weight_decay", [
    ("momentum", 0.9, 0.0), ("nesterov", 0.5, 0.1), ("adagrad", 0.0, 0.1),
    ("rmsprop", 0.0, 0.0), ("rmsprop", 0.5, 0.1), ("adam", 0.8, 0.1), ("adamw", 0.9, 0.1)])
def test_the_torch_optim_equivalents_the_docs_name(name, momentum, weight_decay):
    """docs/FROM_PYTORCH.md: each optimizer equals torch.optim's with the settings it
    names (adagrad: initial_accumulator_value=0.1; rmsprop: alpha=0.9), over 8 steps of
    changing gradients (of a size where eps's place moves the 6th digit at most)."""
    cfg = OptimConfig(name=name, learning_rate=0.05, momentum=momentum or None,
                      weight_decay=weight_decay)
    tx = build_optimizer(cfg, 100)
    params, state = PARAMS, tx.init(PARAMS)
    ref = {k: np.asarray(v, np.float64) for k, v in PARAMS["dense"].items()}
    states = {"kernel": {}, "bias": {}}
    for t in range(8):
        grads = jax.tree.map(lambda p: (0.3 + 0.7 * (-1) ** t) * p + 0.05 * t, params)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        ref = {k: _torch_step(name, ref[k], (0.3 + 0.7 * (-1) ** t) * ref[k] + 0.05 * t,
                              states[k], 0.05, momentum, weight_decay,
                              1.0 if k == "kernel" else 0.0) for k in ref}
    for k in ref:
        np.testing.assert_allclose(params["dense"][k], ref[k], rtol=2e-5, atol=2e-6)


def _keras_step(name: str, p, g, state: dict, lr: float, mom: float, wd: float,
                decay: np.ndarray) -> np.ndarray:
    """One step of Keras 3.15's update rule (float64 numpy transcriptions of
    keras/src/optimizers/*.py `update_step`, after the base optimizer's decoupled
    `weight_decay`, p -= lr * wd * p) with the settings docs/FROM_KERAS.md names as fjax's
    equivalents; `decay` masks the weight decay to the kernel, as
    `exclude_from_weight_decay(var_names=["bias"])` does."""
    t = state["t"] = state.get("t", 0) + 1
    p = p - lr * wd * decay * p
    if name in ("momentum", "nesterov"):   # SGD(momentum=mom, nesterov=...)
        m = state["m"] = mom * state.get("m", 0.0) - lr * g
        return p + (mom * m - lr * g if name == "nesterov" else m)
    if name == "sgd":
        return p - lr * g
    if name == "adagrad":   # Adagrad(): initial_accumulator_value=0.1, epsilon=1e-7
        acc = state["acc"] = state.get("acc", 0.1) + g * g
        return p - lr * g / np.sqrt(acc + 1e-7)
    if name == "rmsprop":   # RMSprop(rho=0.9, momentum=mom, epsilon=1e-8)
        v = state["v"] = 0.9 * state.get("v", 0.0) + 0.1 * g * g
        step = lr * g / np.sqrt(v + 1e-8)
        if mom:
            step = state["buf"] = mom * state.get("buf", 0.0) + step
        return p - step
    # Adam(beta_1=mom, epsilon=1e-8), AdamW(weight_decay=wd, epsilon=1e-8)
    alpha = lr * np.sqrt(1 - 0.999 ** t) / (1 - mom ** t)
    m = state["m"] = state.get("m", 0.0) + (g - state.get("m", 0.0)) * (1 - mom)
    v = state["v"] = state.get("v", 0.0) + (g * g - state.get("v", 0.0)) * 0.001
    return p - alpha * m / (np.sqrt(v) + 1e-8)


@pytest.mark.parametrize("name, momentum, weight_decay", [
    ("sgd", 0.0, 0.1), ("momentum", 0.9, 0.0), ("nesterov", 0.5, 0.0), ("adagrad", 0.0, 0.0),
    ("rmsprop", 0.0, 0.0), ("rmsprop", 0.5, 0.0), ("adam", 0.8, 0.0), ("adamw", 0.9, 0.1)])
def test_the_keras_optimizer_equivalents_the_docs_name(name, momentum, weight_decay):
    """docs/FROM_KERAS.md: each optimizer equals Keras 3's with the settings it names, over
    8 steps of changing gradients of size 1e-2 in float64: exactly but for Adam, where
    Keras adds epsilon before the bias correction (7e-5 of the parameters' moves here;
    Keras's default epsilon of 1e-7 would be 7e-4 off, and RMSprop's 1e-2 to 2.5e-2)."""
    cfg = OptimConfig(name=name, learning_rate=0.05, momentum=momentum or None,
                      weight_decay=weight_decay)
    with jax.enable_x64(True):
        start = {k: np.asarray(v, np.float64) for k, v in PARAMS["dense"].items()}
        tx = build_optimizer(cfg, 100)
        params = {"dense": {k: jnp.asarray(v) for k, v in start.items()}}
        state, ref, states = tx.init(params), dict(start), {"kernel": {}, "bias": {}}
        for t in range(8):
            grad = lambda p: 1e-2 * ((0.3 + 0.7 * (-1) ** t) * p + 0.05 * t)  # noqa: E731
            updates, state = tx.update(jax.tree.map(grad, params), state, params)
            params = optax.apply_updates(params, updates)
            ref = {k: _keras_step(name, ref[k], grad(ref[k]), states[k], 0.05, momentum,
                                  weight_decay, 1.0 if k == "kernel" else 0.0) for k in ref}
        moved = max(np.max(np.abs(ref[k] - start[k])) for k in ref)
        gap = max(np.max(np.abs(np.asarray(params["dense"][k]) - ref[k])) for k in ref)
    assert params["dense"]["kernel"].dtype == jnp.float64
    assert gap <= (1e-4 if name.startswith("adam") else 1e-12) * moved


def test_a_schedule_span_shorter_than_the_run_or_unread_is_refused():
    """schedule_epochs below the run's epochs would leave its last steps at the final rate
    (0: training nothing); a constant rate has no span to set."""
    cosine = OptimConfig(schedule="cosine", schedule_epochs=6)
    assert cosine.span(4) == 6 and OptimConfig().span(4) == 4
    with pytest.raises(ValueError, match="schedule_epochs is 6, but the run trains 7"):
        cosine.span(7)
    with pytest.raises(ValueError, match="schedule_epochs"):
        OptimConfig(schedule_epochs=6)


def test_spanning_fixes_the_span_of_schedules_that_span_the_run_only():
    """A refit or test stage on a search's schedule: cosine schedules keep the searched
    run's span (a span already set stays), rates that ignore the run's length are unchanged."""
    for schedule in ("cosine", "warmup_cosine"):
        assert OptimConfig(schedule=schedule).spanning(9).schedule_epochs == 9
    assert OptimConfig(schedule="cosine", schedule_epochs=12).spanning(9).schedule_epochs == 12
    for schedule in ("constant", "exponential"):
        assert OptimConfig(schedule=schedule).spanning(9) == OptimConfig(schedule=schedule)


def test_a_runs_config_refuses_a_schedule_span_shorter_than_its_epochs():
    """A run's config refuses it when built (`--optim.schedule-epochs 3 --train.epochs
    10`), naming the field and the fix, before any data is prepared or folder written."""
    from fjax.config import ExperimentConfig, TrainConfig
    with pytest.raises(ValueError, match=r"OptimConfig.schedule_epochs is 3, but the run "
                       r"trains 10 epochs.*--optim.schedule-epochs of at least 10"):
        ExperimentConfig(optim=OptimConfig(schedule="cosine", schedule_epochs=3),
                         train=TrainConfig(epochs=10))
    ExperimentConfig(optim=OptimConfig(schedule="cosine", schedule_epochs=10),
                     train=TrainConfig(epochs=10))
