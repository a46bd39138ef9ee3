"""Verifiable instructions: constraints a program can check, strict and loose.

One library for both sides of the loop: generation builds constraint data that passes these
checkers, evaluation scores answers with them (the `heldout-if` suite, IFEval files), and
preference pairs can be built from their verdicts offline.

>>> from seedtune.verifiable import Constraint, check, score
>>> c = Constraint("length_constraints:number_words", {"num_words": 5, "relation": "less than"})
>>> check("Four words are here.", c)
True
>>> score("Sure:\\nTWO WORDS", [Constraint("change_case:english_capital")]).loose
[True]
"""

from seedtune.verifiable import checkers as _checkers  # noqa: F401  (registers every checker)
from seedtune.verifiable.wording import describe
from seedtune.verifiable.registry import (
    CHECKERS,
    FAMILIES,
    HELDOUT_FAMILIES,
    RELATIONS,
    TRAINING_FAMILIES,
    CheckerSpec,
    Constraint,
    ConstraintError,
    compare,
    family_of,
    ids_in,
    is_heldout,
    make_constraint,
    spec_of,
)
from seedtune.verifiable.scoring import Verdict, check, check_loose, constraints_meta, constraints_of, loose_variants, score

__all__ = [
    "CHECKERS", "FAMILIES", "HELDOUT_FAMILIES", "RELATIONS", "TRAINING_FAMILIES",
    "CheckerSpec", "Constraint", "ConstraintError", "Verdict",
    "check", "check_loose", "compare", "constraints_meta", "constraints_of", "describe", "family_of",
    "ids_in", "is_heldout", "loose_variants", "make_constraint", "score", "spec_of",
]
