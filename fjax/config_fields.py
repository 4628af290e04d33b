"""Typed, self-checking config dataclasses: the machinery under `fjax.config`.

`frozen_config` makes a frozen dataclass whose fields are checked against their
annotations (Python itself does not), and `config_error` with the `check_*` helpers
give every bad value an error that names the field and the fix. The task configs use
them too, through `fjax.config`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
import types
import typing
from typing import Annotated, Any, Literal, Sequence, TypeVar, get_args, get_origin

import numpy as np

T = TypeVar("T")


def hyper(default: float) -> Any:
    """A numeric field that may differ between population members of one program."""
    return dataclasses.field(default=default, metadata={"hyper": True})


def config_error(cfg: object, name: str, problem: str, fix: str) -> ValueError:
    """The error for a bad field: `raise config_error(self, "window", "is 0", "use e.g. 60")`
    reads "ForecastDataConfig.window is 0; use e.g. 60"."""
    return ValueError(f"{type(cfg).__name__}.{name} {problem}; {fix}")


def frozen_config(cls: type[T]) -> type[T]:
    """`@dataclasses.dataclass(frozen=True)` whose fields are checked against their
    annotations before the class's own `__post_init__` runs.

    Python does not check annotations, so `ModelConfig(hidden="64")` would build layers
    of widths 6 and 4 and `learning_rate="1e-3"` would fail deep inside a comparison.
    Here every value must be of its field's type, with the field named in the error;
    numpy scalars become plain numbers and lists become tuples, so configs built from
    `np.logspace` or JSON stay hashable and print plainly.
    """
    own = cls.__dict__.get("__post_init__")
    if own is None:   # a subclass without checks of its own keeps its base's
        own = getattr(getattr(cls, "__post_init__", None), "checks", None)

    def __post_init__(self):
        check_field_types(self)
        if own is not None:
            own(self)

    __post_init__.checks = own
    cls.__post_init__ = __post_init__
    return dataclasses.dataclass(frozen=True)(cls)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def check_field_types(cfg: Any) -> None:
    """Check each field of dataclass `cfg` against its annotation, making values plain."""
    hints = _field_types(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        tp = hints[f.name]
        choices = literal_choices(tp)
        if choices is not None and value is not None:
            check_choice(cfg, f.name, choices)
            continue
        try:
            plain = _plain(tp, value)
        except TypeError:
            raise config_error(cfg, f.name, f"must be {describe(tp)}, got {value!r}",
                               _type_fix(tp, value, f.default)) from None
        if plain is not value:
            object.__setattr__(cfg, f.name, plain)


def unwrap_annotation(tp: Any) -> tuple[Any, bool]:
    """(the annotation without Annotated and Optional, whether None is allowed)."""
    if get_origin(tp) is Annotated:
        return unwrap_annotation(get_args(tp)[0])
    if get_origin(tp) in (typing.Union, types.UnionType):
        inner = [a for a in get_args(tp) if a is not type(None)]
        return unwrap_annotation(inner[0])[0], len(inner) < len(get_args(tp))
    return tp, False


def literal_choices(tp: Any) -> tuple | None:
    """The values of Literal annotation `tp` (through Annotated and Optional), else None."""
    tp, _ = unwrap_annotation(tp)
    return get_args(tp) if get_origin(tp) is Literal else None


def _plain(tp: Any, value: Any) -> Any:
    """`value` as a plain instance of annotation `tp`; TypeError if it is not one."""
    tp, optional = unwrap_annotation(tp)
    if value is None and optional:
        return None
    if hasattr(value, "__array__") and np.ndim(value) == 0:   # a 0-d numpy or jax array
        value = np.asarray(value)[()]
    if get_origin(tp) is tuple:
        if not isinstance(value, (tuple, list)):
            raise TypeError
        plain = tuple(_plain(get_args(tp)[0], v) for v in value)
        return value if plain == value and isinstance(value, tuple) else plain
    if get_origin(tp) is Literal:   # only None reaches here (check_field_types)
        raise TypeError
    if dataclasses.is_dataclass(tp):
        if type(value) in tp.__mro__[1:] and dataclasses.is_dataclass(value):
            return narrowed(tp, value)
        if not isinstance(value, tp):
            raise TypeError
        return value
    if tp is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError
        return bool(value)
    if tp is int:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            raise TypeError
        return value if type(value) is int else int(value)
    if tp is float:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
                or not math.isfinite(value):
            raise TypeError
        # str() first: float32(1e-3) is 0.001, not 0.0010000000474974513
        return value if type(value) is float else float(str(value))
    if tp is str and not isinstance(value, str):
        raise TypeError
    return value


def narrowed(cls: type[T], value: Any) -> T:
    """`value`, an instance of a base of config class `cls`, rebuilt as a `cls`: a task
    narrows a general config (its `ModelConfig` to the kinds it accepts), and Python users
    still pass the general one; `cls`'s own checks judge the values."""
    return cls(**{f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init})


def describe(tp: Any) -> str:
    """Annotation `tp` in a refusal's words: "an integer", "a tuple of strings or None"."""
    tp, optional = unwrap_annotation(tp)
    names = {bool: "True or False", int: "an integer", float: "a finite number",
             str: "a string"}
    if get_origin(tp) is tuple:
        text = f"a tuple of {describe(get_args(tp)[0]).split(' ', 1)[1]}s"
    elif dataclasses.is_dataclass(tp):
        text = f"a {tp.__name__}"
    elif get_origin(tp) is Literal:
        text = f"one of {', '.join(map(str, get_args(tp)))}"
    else:
        text = names.get(tp, str(tp))
    return f"{text} or None" if optional else text


def _type_fix(tp: Any, value: Any, default: Any = None) -> str:
    """The fix for `value`, refused by annotation `tp`. A tuple field's is `(value,)` where
    its element check takes the value, else the field's `default`: (1.5,) would be refused
    by the same check for a tuple of integers."""
    bare, _ = unwrap_annotation(tp)
    if get_origin(bare) is tuple and not isinstance(value, (tuple, list)):
        try:
            example = (_plain(get_args(bare)[0], value),)
        except TypeError:
            example = default
        return f"write a tuple, e.g. {example!r}" if isinstance(example, tuple) \
            else "write a tuple"
    if dataclasses.is_dataclass(bare):   # the class, or a config class it narrows
        return "pass " + " or ".join(f"{c.__name__}(...)" for c in bare.__mro__
                                     if dataclasses.is_dataclass(c))
    if isinstance(value, str):
        return "pass the value itself, not a string"
    return f"pass {describe(tp)}"


def check_choice(cfg: object, name: str, choices: Sequence[str]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise config_error(cfg, name, f"is {value!r}{hint}",
                           f"choose one of {', '.join(choices)}")


def above_zero(value: Any, allow_zero: bool = False) -> tuple[Any, str]:
    """`value > 0` (`>= 0` with `allow_zero`; elementwise on an array) and that bound as
    text: the one rule of `check_positive` and `fjax.optim.check_value`."""
    return (value >= 0, ">= 0") if allow_zero else (value > 0, "> 0")


def check_positive(cfg: object, name: str, allow_zero: bool = False) -> None:
    """A finite number > 0 (>= 0 with `allow_zero`); a count is `check_integer`'s."""
    value = getattr(cfg, name)
    ok, bound = above_zero(value, allow_zero)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and ok):
        raise config_error(cfg, name, f"must be a finite number {bound}, got {value!r}",
                           f"pass a value {bound}")


def check_integer(cfg: object, name: str, minimum: int, fix: str) -> None:
    """An int (not a bool) >= `minimum`."""
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise config_error(cfg, name, f"must be an integer >= {minimum}, got {value!r}", fix)


def check_unused(cfg: object, names: Sequence[str], why: str) -> None:
    """Fields of `cfg` that must keep their class defaults, because `why` (a task's
    models never read them): a value set there would change nothing, silently."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    for name in names:
        if getattr(cfg, name) != defaults[name]:
            raise config_error(cfg, name, f"is {getattr(cfg, name)!r}, but {why}",
                               "leave it out")


def check_read(cfg: object, section: str, names: Sequence[str] | None = None, *,
               chosen: Sequence[str] | None = None, among: str = "this run trains",
               usual: object = None, swept: Sequence[str] = ()) -> None:
    """Fields that only some values of a choice read (`type(cfg).READ_BY` maps each to the
    choice field and the values that read it) must be read by one of `chosen` (by default
    the value `cfg` holds; several: those `among` names) when set away from the class's
    default and from `usual` (an instance of the section: a task's own default model, which
    a plain `ModelConfig(kind=...)` does not carry) or swept (`swept`: names).
    `names`: the fields to check, by default the structural ones, as a `hyper` field's value
    may be the first of a sweep's, which only a check that knows the grid can tell
    (`check_loss_grid`). `section` ("optim") names the flags in the fix, which offers only
    values the class accepts."""
    fields, hints = {f.name: f for f in dataclasses.fields(cfg)}, _field_types(type(cfg))
    if names is None:
        names = [n for n in type(cfg).READ_BY if not fields[n].metadata.get("hyper")]
    for name in names:
        choice, readers = type(cfg).READ_BY[name]
        value, default = getattr(cfg, name), fields[name].default
        usual_value = default if usual is None else getattr(usual, name)
        values = [getattr(cfg, choice)] if chosen is None else chosen
        if (name not in swept and value in (default, usual_value)) \
                or set(values) & set(readers):
            continue
        offered = [r for r in readers if r in (literal_choices(hints[choice]) or readers)]
        flag = f"--{section}.{choice.replace('_', '-')}"
        use = (f"choose {' or '.join(offered)} ({flag} {offered[0]}) to use it, or "
               if offered else "")
        ignoring = (f"{choice}={values[0]!r} ignores it" if len(values) == 1 else
                    f"every {choice} {among} ({', '.join(values)}) ignores it")
        if name in swept:
            raise ValueError(f"grid entry {section}.{name} has no effect: {ignoring}; "
                             f"{use}drop it from the grid")
        raise config_error(cfg, name, f"is {value!r}, but {ignoring}",
                           f"{use}leave it out (default {usual_value!r})")


def check_read_by_class(cfg: object, section: str) -> None:
    """`check_read` against every value of the choice that `cfg`'s class accepts: a field
    none of them reads (a fraud model's kernel_size: none is a CNN) keeps its default,
    hyperparameters included, as no member of any run could read it."""
    (choice,) = {choice for choice, _ in type(cfg).READ_BY.values()}
    check_read(cfg, section, list(type(cfg).READ_BY),
               chosen=list(literal_choices(_field_types(type(cfg))[choice])),
               among=f"{type(cfg).__name__} accepts")


def unread_reset(cfg: T, choice: str, value: Any) -> dict[str, Any]:
    """The changes that set choice field `choice` of `cfg` to `value`: with it, the fields
    that `value` does not read (`READ_BY`) back at their class defaults, so that a grid
    over the choice keeps a setting for the values that read it."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    changes = {choice: value}
    for name, (owner, readers) in getattr(type(cfg), "READ_BY", {}).items():
        if owner == choice and value not in readers:
            changes[name] = defaults[name]
    return changes
