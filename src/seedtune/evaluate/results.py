"""What an evaluation found, as types: the shape of scores.json, and the one wording of a verdict.

`EvalScores` is scores.json: per model x mode the overall, per-category and per-task scores
(`ModeResult`, each cell a `Summary` with its 95% bootstrap CI), the paired comparisons
(`Deltas`: every model against the first, the named pairs, every mode against zero-shot), the
verifiable-instruction blocks (`InstructionBlock`), and what the run used (models, judge, timing,
cost, config). The runner builds it, the eval report, the run report and `seedtune eval`'s tables
read it. `to_json()` writes the field names scores.json has always had, and a field the run did
not produce stays absent (not null); `from_json()` reads files written before a field existed.

The verdict of a paired comparison follows its confidence interval, never the sign of the mean:
`comparison_sentence` words it; `direction`, `verdict`, `tone` and `callout_kind` are its parts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from seedtune.errors import InputError
from seedtune.evaluate.stats import PairedComparison


class _Result(BaseModel):
    # Keys this version does not know (a newer seedtune's) are kept and written back unchanged.
    model_config = ConfigDict(extra="allow", protected_namespaces=())


# -- scores of one model in one mode ---------------------------------------------------------------

class Summary(_Result):
    """Mean primary score over a set of instances, with its 95% bootstrap CI."""

    n: int
    score: float | None = None
    ci: list[float] = [float("nan"), float("nan")]
    metrics: dict[str, float] = {}
    extraction_failures: int = 0
    mean_length: float | None = None  # words (characters for Chinese) per answer

    def with_ci(self) -> str:
        """'0.412 [0.380, 0.445]', or '' when there was nothing to score."""
        return "" if self.score is None else f"{self.score:.3f} [{self.ci[0]:.3f}, {self.ci[1]:.3f}]"


class TaskSummary(Summary):
    metric: str = ""
    category: str = ""
    lang: str = ""
    contaminated: bool = False


class ModeResult(_Result):
    overall: Summary
    categories: dict[str, Summary] = {}
    tasks: dict[str, TaskSummary] = {}
    overall_clean: Summary | None = None  # present only when some tasks were in the training data


# -- paired comparisons ---------------------------------------------------------------------------

class GroupDelta(_Result):
    """B - A on the instances of one category, language or task."""

    delta: float
    ci: list[float]
    n: int
    wins: int = 0
    losses: int = 0


class Delta(_Result):
    """B - A on the same instances: `a`/`b` are models (with `mode`), or modes of one `model`."""

    model: str | None = None  # set for a mode comparison (k-shot or CoT against zero-shot)
    a: str
    b: str
    mode: str | None = None  # set for a model comparison
    overall: PairedComparison
    categories: dict[str, GroupDelta] = {}
    langs: dict[str, GroupDelta] = {}
    tasks: dict[str, GroupDelta] = {}

    @property
    def mode_name(self) -> str:
        return self.mode or self.b

    @property
    def title(self) -> str:
        return f"{self.b} − {self.a}" if self.model is None else f"{self.model}: {self.b} − {self.a}"


class Deltas(_Result):
    models: list[Delta] = []  # every model against the first (and, asked for, against the one before)
    modes: list[Delta] = []  # every mode against zero-shot, per model
    pairs: list[Delta] = []  # the named (A, B) pairs, e.g. seeds-only vs all

    def in_order(self) -> list[Delta]:
        """Models against the first, the named pairs, then modes: the order the tables show."""
        return [*self.models, *self.pairs, *self.modes]


# -- verifiable instructions ----------------------------------------------------------------------

NUMBERS = ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose")


class InstructionNumbers(_Result):
    """IFEval's four numbers (None when no prompt was answered), each with its 95% CI."""

    n_prompts: int = 0
    n_instructions: int = 0
    prompt_strict: float | None = None
    prompt_strict_ci: list[float] | None = None
    prompt_loose: float | None = None
    prompt_loose_ci: list[float] | None = None
    inst_strict: float | None = None
    inst_strict_ci: list[float] | None = None
    inst_loose: float | None = None
    inst_loose_ci: list[float] | None = None

    def with_ci(self, key: str) -> str:
        """One of the four numbers as '0.412 [0.38, 0.45]'; '' when no prompt was answered."""
        value, ci = getattr(self, key), getattr(self, f"{key}_ci")
        if value is None:
            return ""
        return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"


class InstructionCell(InstructionNumbers):
    mean_length: float | None = None
    splits: dict[str, InstructionNumbers] = {}  # seen / held-out constraint families
    langs: dict[str, InstructionNumbers] = {}
    families: dict[str, InstructionNumbers] = {}


class InstructionDelta(_Result):
    """B - A on the same prompts: one paired comparison per number, overall, per split and language."""

    a: str
    b: str
    mode: str
    overall: dict[str, PairedComparison] = {}
    splits: dict[str, dict[str, PairedComparison]] = {}
    langs: dict[str, dict[str, PairedComparison]] = {}


class InstructionSuiteInfo(_Result):
    name: str
    source: str = ""
    prompts: int = 0
    instructions: int = 0
    langs: dict[str, int] = {}
    prompts_cap: int | None = None
    max_new_tokens: int | None = None
    skipped: int = 0
    skipped_lines: list[dict[str, Any]] = []


class InstructionBlock(_Result):
    results: dict[str, dict[str, InstructionCell]] = {}
    deltas: list[InstructionDelta] = []
    models: list[str] = []
    modes: list[str] = []
    suite: InstructionSuiteInfo


# -- the whole file -------------------------------------------------------------------------------

class SuiteInfo(_Result):
    name: str
    tasks: int
    instances: int
    limit_per_task: int | None = None
    categories: list[str] = []


class ModelInfo(_Result):
    label: str
    spec: str = ""
    fingerprint: str | None = None
    prompt_format: str | None = None
    directory: str | None = None
    contaminated_tasks: list[str] = []


class EvalScores(_Result):
    """scores.json. `results`/`deltas`/`suite` are the suite scored against references (absent
    when only verifiable suites ran); `instructions` holds one block per verifiable suite."""

    results: dict[str, dict[str, ModeResult]] = {}
    deltas: Deltas = Field(default_factory=Deltas)
    modes: list[str] = []
    model_labels: list[str] = []
    suite: SuiteInfo | None = None
    notes: list[str] = []
    instructions: dict[str, InstructionBlock] = {}
    models: list[ModelInfo] = []
    contamination: dict[str, dict[str, dict[str, Any]]] = {}  # model label -> task -> what was found
    extraction_failures: dict[str, dict[str, int]] = {}  # model -> mode -> count
    judge: dict[str, Any] | None = None
    timing: dict[str, dict[str, Any]] = {}
    cost: dict[str, Any] = {}
    config: dict[str, Any] = {}

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True)
        if self.suite is None and self.instructions:
            # Only verifiable suites ran: scores.json has always repeated the first one's numbers
            # under `results`, so readers of older files find a score where they look for one.
            first = next(iter(self.instructions.values()))
            data["results"] = first.model_dump(exclude_unset=True)["results"]
            head = ("model_labels", "modes", "instructions", "results")  # that file's key order
            data = {**{k: data[k] for k in head if k in data}, **data}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalScores:
        if "suite" not in data and data.get("instructions"):
            data = {k: v for k, v in data.items() if k != "results"}  # the copy to_json writes
        return cls.model_validate(data)

    def write(self, path: str | Path) -> None:
        from seedtune.io import write_json

        write_json(path, self.to_json())

    @classmethod
    def read(cls, path: str | Path) -> EvalScores:
        path = Path(path)
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:  # ValidationError is a ValueError
            field = None
            if isinstance(err, ValidationError) and err.errors():
                field = ".".join(str(p) for p in err.errors()[0]["loc"])
            raise InputError(f"not a scores.json this version can read: {str(err).splitlines()[0]}", path=path,
                             field=field, hint="rerun the evaluation (seedtune run --from eval, or seedtune eval) "
                                               "to write it again") from None

    def delta_vs_first(self, mode: str, b: str) -> Delta | None:
        """`b` against the first model in `mode`."""
        return next((d for d in self.deltas.models if d.mode == mode and d.b == b and d.a == self.model_labels[0]), None)

    def headline_scores(self) -> dict[str, dict[str, float | None]]:
        """Model -> mode -> one number: the reference score, or with only verifiable suites the
        first suite's prompt-level loose accuracy."""
        if self.suite is not None or not self.instructions:
            return {m: {mode: cell.overall.score for mode, cell in modes.items()} for m, modes in self.results.items()}
        first = next(iter(self.instructions.values()))
        return {m: {mode: cell.prompt_loose for mode, cell in modes.items()} for m, modes in first.results.items()}


# -- the verdict ----------------------------------------------------------------------------------

def direction(ci_low: float, ci_high: float) -> int:
    """+1 when the 95% CI of B - A lies above zero, -1 when below, 0 when it holds zero (or is NaN)."""
    return 1 if ci_low > 0 else -1 if ci_high < 0 else 0


_WORDS = {1: "better", -1: "worse", 0: "not clearly different"}


def verdict(c: PairedComparison) -> str:
    return _WORDS[direction(c.ci_low, c.ci_high)]


def tone(ci_low: float, ci_high: float) -> str:
    """A table cell's colour for a difference with this CI."""
    return {1: "good", -1: "bad", 0: "muted"}[direction(ci_low, ci_high)]


def callout_kind(c: PairedComparison) -> str:
    return {1: "success", -1: "warning", 0: "info"}[direction(c.ci_low, c.ci_high)]


def signed_ci(ci_low: float, ci_high: float) -> str:
    return f"[{ci_low:+.3f}, {ci_high:+.3f}]"


def difference(c: PairedComparison, *, percent: bool = False) -> str:
    """'0.412 vs 0.380, difference +0.032 (95% CI [+0.010, +0.055])': B's mean first."""
    means = f"{c.mean_b:.1%} vs {c.mean_a:.1%}" if percent else f"{c.mean_b:.3f} vs {c.mean_a:.3f}"
    return f"{means}, difference {c.delta:+.3f} (95% CI {signed_ci(c.ci_low, c.ci_high)})"


def comparison_sentence(c: PairedComparison, a: str, b: str, context: str, *, percent: bool = False,
                        unit: str = "instance", note: str = "") -> str:
    """B vs A in one sentence: the means, the difference with its CI, the verdict the CI allows
    (better / worse only when the interval excludes zero), and the per-instance sign test."""
    return (f"**{b}** vs **{a}** ({context}){note}: {difference(c, percent=percent)} — {verdict(c)}; "
            f"per {unit}: {c.wins} better, {c.losses} worse, {c.ties} equal (sign test p = {c.p_sign:.3g}).")
