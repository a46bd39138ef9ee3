"""Strict and loose verdicts, for one answer against its constraints.

Strict: the checker on the answer as written. Loose (IFEval's definition): the answer also passes
if the checker accepts it with the first line removed, the last line removed, both removed, or
with markdown `*` removed from any of those, which forgives "Sure, here it is:" openers and
closing remarks, and bold markup around the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seedtune.verifiable.registry import Constraint, make_constraint, spec_of


@dataclass(frozen=True)
class Verdict:
    """Per-constraint results of one answer, strict and loose (loose >= strict, position by position)."""

    strict: list[bool] = field(default_factory=list)
    loose: list[bool] = field(default_factory=list)

    @property
    def prompt_strict(self) -> bool:
        """Every constraint holds strictly (IFEval's prompt-level strict)."""
        return all(self.strict)

    @property
    def prompt_loose(self) -> bool:
        return all(self.loose)

    def to_dict(self) -> dict[str, Any]:
        return {"strict": list(self.strict), "loose": list(self.loose)}


def check(response: str, constraint: Constraint, *, prompt: str = "") -> bool:
    """Whether `response` satisfies `constraint` as written.

    >>> check("all lower case here.", Constraint("change_case:english_lowercase"))
    True
    """
    spec = spec_of(constraint.id)
    kwargs = dict(constraint.kwargs)
    if spec.wants_prompt:
        kwargs["prompt"] = prompt
    return bool(spec.fn(response, **kwargs))


def loose_variants(response: str) -> list[str]:
    """The answer as IFEval's loose scoring reads it: as is, without its first line, without its
    last line, without both, and each of those with `*` removed (empty variants dropped)."""
    lines = response.split("\n")
    cut = [response, "\n".join(lines[1:]), "\n".join(lines[:-1]), "\n".join(lines[1:-1])]
    variants = cut + [v.replace("*", "") for v in cut]
    return [v for v in dict.fromkeys(variants) if v.strip()]


def check_loose(response: str, constraint: Constraint, *, prompt: str = "") -> bool:
    """Whether any loose variant of `response` satisfies `constraint`.

    >>> c = Constraint("startend:quotation")
    >>> check('Sure!\\n"Here it is."', c), check_loose('Sure!\\n"Here it is."', c)
    (False, True)
    """
    return any(check(v, constraint, prompt=prompt) for v in loose_variants(response))


def score(response: str, constraints: Sequence[Constraint], *, prompt: str = "") -> Verdict:
    """Strict and loose verdicts of `response` for each constraint, in order."""
    strict = [check(response, c, prompt=prompt) for c in constraints]
    # Loose is strict or better: only strict failures need the variants.
    loose = [s or check_loose(response, c, prompt=prompt) for s, c in zip(strict, constraints)]
    return Verdict(strict, loose)


def constraints_of(record: Any) -> list[Constraint]:
    """The constraints a record carries in `meta["constraints"]` (as `seedtune generate
    constraints` and the heldout-if suite store them: a list of {"id", "kwargs"}); [] if none.
    Accepts a Record or a plain dict with a `meta` key."""
    meta = record.get("meta") if isinstance(record, dict) else getattr(record, "meta", None)
    raw = (meta or {}).get("constraints") or []
    return [make_constraint(item["id"], item.get("kwargs") or {}) for item in raw]


def constraints_meta(constraints: Sequence[Constraint], verdict: Verdict | None = None) -> dict[str, Any]:
    """What a record stores as provenance: `constraints` (ids + kwargs) and, when scored,
    `checks` (the strict verdict of each, in order) and `checks_loose`."""
    meta: dict[str, Any] = {"constraints": [c.to_dict() for c in constraints]}
    if verdict is not None:
        meta["checks"] = list(verdict.strict)
        meta["checks_loose"] = list(verdict.loose)
    return meta
