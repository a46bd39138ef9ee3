"""Turn a model's raw output into the answer that gets scored.

Free-form tasks score the whole (trimmed) output. Classification tasks map the output onto the
task's label set. Chain-of-thought outputs first look for the final-answer phrase ("The answer
is ...", "答案是 ..."), then the last option letter / number / label. Every failure is reported
(`ok=False`, with the method that was tried) so the runner can log and count it, instead of
silently scoring a whole rationale as if it were the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seedtune.lexicon import squash

# "The answer is (B).", "So the final answer is: 42", "Answer: positive", "答案是：正面", "答案：4"
_FINAL_RE = re.compile(
    r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer\s*[:：]|answer\s*[:：]|答案(?:是|为|應為|应为)?\s*[:：]?|所以答案是)"
    r"\s*[:：]?\s*(.+)",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
_LETTER_RE = re.compile(r"(?:^|[\s(（\[])([A-E])(?=$|[\s).）\]:,。，])")
_ANSWER_TAIL = re.compile(r"^[\s\"'“”‘’(（\[]*|[\s\"'“”‘’)）\]。.!！]*$")


@dataclass(frozen=True)
class Extraction:
    answer: str
    method: str  # "full", "label", "final-phrase", "last-number", "option-letter", "failed"
    ok: bool = True


def answer_kind(references: list[str], labels: list[str]) -> str:
    """What the answer looks like: 'letter' (A-E options), 'label', 'number' or 'text'."""
    if labels and all(re.fullmatch(r"\(?[A-E]\)?", lb.strip()) for lb in labels):
        return "letter"
    if labels:
        return "label"
    if references and all(_NUMBER_RE.fullmatch(r.strip().replace(" ", "")) for r in references):
        return "number"
    return "text"


def clean_output(text: str, stop: tuple[str, ...] | list[str] = ()) -> str:
    """Cut the output at the first stop string (when the backend did not) and trim whitespace."""
    for s in stop:
        if s and s in text:
            text = text.split(s, 1)[0]
    return text.strip()


def extract_answer(text: str, *, kind: str = "text", labels: list[str] | None = None, cot: bool = False) -> Extraction:
    """The answer inside `text` for a task whose answers are of `kind` (see `answer_kind`)."""
    text = text.strip()
    labels = labels or []
    if not cot:
        if kind == "label":
            return _match_label(text, labels) or Extraction(text, "failed", ok=False)
        if kind == "letter":
            return _letter(text) or _match_label(text, labels) or Extraction(text, "failed", ok=False)
        if kind == "number":
            # A direct answer states the number first ("4, because..."); a stated final answer wins.
            scope = _final_phrase(text) or (text.rsplit("=", 1)[-1] if "=" in text else text)
            numbers = _NUMBER_RE.findall(scope)
            if numbers:
                return Extraction(numbers[0].replace(",", ""), "first-number")
            return Extraction(text, "failed", ok=False)
        return Extraction(text, "full")

    candidate = _final_phrase(text)
    scope = candidate if candidate is not None else text
    if kind == "label":
        found = _match_label(scope, labels, last=candidate is None)
        if found is None and candidate is not None:  # "positive, so ... The answer is above": last label named
            found = _match_label(text, labels, last=True)
        return found or Extraction(text, "failed", ok=False)
    if kind == "letter":
        found = _letter(scope, last=True)
        return found or Extraction(text, "failed", ok=False)
    if kind == "number":
        numbers = _NUMBER_RE.findall(scope)
        if numbers:
            return Extraction(numbers[0 if candidate is not None else -1].replace(",", ""), "last-number")
        return Extraction(text, "failed", ok=False)
    if candidate is not None:
        return Extraction(candidate, "final-phrase")
    return Extraction(text, "failed", ok=False)


def _final_phrase(text: str) -> str | None:
    matches = list(_FINAL_RE.finditer(text))
    if not matches:
        return None
    answer = matches[-1].group(1).strip().splitlines()[0]
    # Keep the answer sentence only: "The answer is 42. Next question..." -> "42"
    answer = re.split(r"(?<=[^\d])[.。!！](?:\s|$)|(?<=\d)\.\s", answer, maxsplit=1)[0]
    answer = _ANSWER_TAIL.sub("", answer)
    return answer.strip() or None


def _letter(text: str, last: bool = False) -> Extraction | None:
    letters = _LETTER_RE.findall(text)
    if not letters:
        return None
    return Extraction(letters[-1] if last else letters[0], "option-letter")


_norm = squash  # seedtune.lexicon


def _match_label(text: str, labels: list[str], last: bool = False) -> Extraction | None:
    """The label the text states: an exact (normalised) match, else the first (or last) label named."""
    if not labels:
        return None
    norm_text = _norm(text)
    for label in labels:
        if _norm(label) == norm_text:
            return Extraction(label, "label")
    spans = []
    lowered = text.lower()
    for label in labels:
        pattern = re.escape(label.lower())
        if label.isascii() and re.match(r"\w", label[:1] or ""):  # whole words for Latin labels
            pattern = rf"(?<![a-z0-9]){pattern}(?![a-z0-9])"
        spans += [(m.start(), m.end(), label) for m in re.finditer(pattern, lowered)]
    # A label inside a longer one that matched there ("spam" inside "not spam") is not a mention.
    hits = sorted(h for h in spans if not any(o[0] <= h[0] and h[1] <= o[1] and (o[1] - o[0]) > (h[1] - h[0]) for o in spans))
    if not hits:
        return None
    return Extraction(hits[-1][2] if last else hits[0][2], "label")
