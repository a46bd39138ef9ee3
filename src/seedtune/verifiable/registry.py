"""Constraints and the registry of checkers, by id.

A constraint is an instruction id in IFEval's spelling (`length_constraints:number_words`) or one
of ours under `zh:` (Chinese-specific), plus its keyword arguments. Each id has one pure checker
function `fn(response, **kwargs) -> bool`; its keyword-only parameters and their annotations are
the kwargs schema, so validation, docs and the checker can never disagree.

Every id belongs to a *family* (a skill: case, length, keywords ...). Families are split into
those training data may use and those held out, so an evaluation can tell "learned the
constraints it trained on" apart from "learned to follow constraints".
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from seedtune.errors import SeedtuneError

Relation = Literal["less than", "at least", "at most", "more than", "exactly"]
RELATIONS: tuple[str, ...] = typing.get_args(Relation)

# Families training data may use: each can be built from an existing answer by a transformation
# a program can verify (wrap, case, split, append, choose answers that already fit).
TRAINING_FAMILIES: tuple[str, ...] = ("case", "wrapping", "startend", "lists", "length", "punctuation")
# Held out: never in generated training data, so scores on them measure generalisation.
HELDOUT_FAMILIES: tuple[str, ...] = ("keywords", "structure", "combination", "language")
FAMILIES: tuple[str, ...] = TRAINING_FAMILIES + HELDOUT_FAMILIES


class ConstraintError(SeedtuneError):
    """A constraint id or kwargs that no checker accepts; `field` names the offending part."""

    def __init__(self, message: str, *, field: str, hint: str | None = None):
        self.field = field
        super().__init__(message, hint)


@dataclass(frozen=True)
class Constraint:
    """One verifiable instruction: a registered checker id and the kwargs it is called with."""

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kwargs": dict(self.kwargs)}

    @property
    def family(self) -> str:
        return family_of(self.id)


@dataclass(frozen=True)
class CheckerSpec:
    """A registered checker: its id, family, function and kwargs schema (name -> annotation)."""

    id: str
    family: str
    fn: Callable[..., bool]
    params: dict[str, Any]
    required: frozenset[str]
    wants_prompt: bool = False
    langs: tuple[str, ...] = ("en", "zh")

    @property
    def heldout(self) -> bool:
        return self.family in HELDOUT_FAMILIES


CHECKERS: dict[str, CheckerSpec] = {}


def checker(id: str, *, family: str, langs: tuple[str, ...] = ("en", "zh")) -> Callable[[Callable[..., bool]], Callable[..., bool]]:
    """Register `fn` as the checker for `id`. Keyword-only parameters form the kwargs schema; a
    keyword-only `prompt` parameter receives the prompt instead of a kwarg."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")

    def register(fn: Callable[..., bool]) -> Callable[..., bool]:
        hints = typing.get_type_hints(fn)
        params: dict[str, Any] = {}
        required = set()
        wants_prompt = False
        for name, p in inspect.signature(fn).parameters.items():
            if p.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            if name == "prompt":
                wants_prompt = True
                continue
            params[name] = hints[name]
            if p.default is inspect.Parameter.empty:
                required.add(name)
        CHECKERS[id] = CheckerSpec(id, family, fn, params, frozenset(required), wants_prompt, langs)
        return fn

    return register


def family_of(constraint_id: str) -> str:
    """The family of a registered id (raises ConstraintError for an unknown id)."""
    return spec_of(constraint_id).family


def is_heldout(constraint_id: str) -> bool:
    return spec_of(constraint_id).heldout


def ids_in(families: typing.Iterable[str]) -> list[str]:
    """Registered ids whose family is in `families`, in registration order."""
    wanted = set(families)
    return [cid for cid, spec in CHECKERS.items() if spec.family in wanted]


def spec_of(constraint_id: str) -> CheckerSpec:
    spec = CHECKERS.get(constraint_id)
    if spec is None:
        raise ConstraintError(f"unknown instruction id {constraint_id!r}", field="instruction_id_list",
                              hint=f"known ids: {', '.join(sorted(CHECKERS))}")
    return spec


def make_constraint(constraint_id: str, kwargs: dict[str, Any] | None = None) -> Constraint:
    """A validated Constraint: known id, no unknown kwargs, every value of its declared type.

    None values are dropped first (IFEval files list every possible kwarg, mostly null), and an
    integral float (3.0, what a dataframe export writes for a nullable int) counts as an int.
    """
    spec = spec_of(constraint_id)
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, dict):
        raise ConstraintError(f"kwargs of {constraint_id} must be an object, got {type(kwargs).__name__}", field="kwargs")
    clean: dict[str, Any] = {}
    for name, value in kwargs.items():
        if value is None:
            continue
        if name not in spec.params:
            expected = ", ".join(spec.params) or "none"
            raise ConstraintError(f"{constraint_id} takes no kwarg {name!r} (it takes: {expected})", field=f"kwargs.{name}")
        clean[name] = _coerce(constraint_id, name, value, spec.params[name])
    missing = sorted(spec.required - set(clean))
    if missing:
        raise ConstraintError(f"{constraint_id} needs kwarg(s) {', '.join(missing)}", field=f"kwargs.{missing[0]}")
    return Constraint(constraint_id, clean)


def _coerce(cid: str, name: str, value: Any, annotation: Any) -> Any:
    def bad(expected: str) -> ConstraintError:
        return ConstraintError(f"{cid}: kwarg {name!r} must be {expected}, got {value!r} ({type(value).__name__})",
                               field=f"kwargs.{name}")

    if annotation is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad("a non-negative integer")
        return value
    if annotation is str:
        if not isinstance(value, str) or not value.strip():
            raise bad("a non-empty string")
        return value
    if typing.get_origin(annotation) is Literal:
        options = typing.get_args(annotation)
        if value not in options:
            raise bad("one of " + ", ".join(repr(o) for o in options))
        return value
    if annotation == list[str]:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise bad("a non-empty list of strings")
        return list(value)
    raise TypeError(f"{cid}: unsupported kwarg annotation {annotation!r}")  # a registration bug


def compare(count: int, relation: str, target: int) -> bool:
    """`count <relation> target`, with IFEval's relation words.

    >>> compare(3, "less than", 4), compare(4, "at least", 4), compare(5, "at most", 4)
    (True, True, False)
    """
    if relation == "less than":
        return count < target
    if relation == "at least":
        return count >= target
    if relation == "at most":
        return count <= target
    if relation == "more than":
        return count > target
    if relation == "exactly":
        return count == target
    raise ValueError(f"unknown relation {relation!r}")
