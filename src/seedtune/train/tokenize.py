"""Records -> token ids + labels, built structurally (pure functions, no model).

Why structurally: string search for "### Response:" or masking by re-tokenising the prompt breaks
silently when a merge crosses the prompt/answer boundary. We tokenise the prompt and the target
separately and concatenate the ids, so the split point is exact by construction, and then
*check* the properties that matter before step 1 (`check_examples`):

  - no prompt token carries a label (the model is not taught to write prompts),
  - the end token (EOS / end-of-turn) is always trained, even when pad == eos (otherwise the
    model never learns to stop - a classic collator bug),
  - every row has at least one trained token,
  - the prompt ids are a prefix of the full ids.

Layout of one example (labels are the *input* ids at the positions that are trained; the loss
shifts them by one):

    ids:    [bos] p1 p2 ... pk  t1 ... tm  eos
    labels: -100  -100 ... -100 t1 ... tm  eos

A conversation trained on every assistant turn is the same layout repeated: each turn's context
(the user/system text between two answers) is masked, each answer and its end token trained.
`Example.spans` names the trained stretches, and the checks hold for every one of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

IGNORE = -100


@dataclass(frozen=True)
class Example:
    """One tokenised training example."""

    input_ids: list[int]
    labels: list[int]
    prompt_len: int
    index: int = -1  # position of the source record, for error messages
    truncated: bool = False
    # Trained stretches [start, end) — one per assistant turn; () means the single (prompt_len, len).
    spans: tuple[tuple[int, int], ...] = ()

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def trained(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)

    @property
    def trained_spans(self) -> tuple[tuple[int, int], ...]:
        return self.spans or ((self.prompt_len, len(self.input_ids)),)


@dataclass
class TokenizeReport:
    """What happened to the rows: counts for the pre-flight report."""

    rows_in: int = 0
    rows_kept: int = 0
    truncated: int = 0
    dropped_too_long: int = 0
    dropped_empty_target: int = 0
    boundary_merges: int = 0  # rows where tokenising prompt+target jointly would merge across the split
    dropped_indices: list[int] = field(default_factory=list)

    def admit(self, examples: list[Example], example: Example | None, index: int) -> None:
        """Count row `index` under the length policy's verdict: kept (maybe cut), or dropped as too long."""
        if example is None:
            self.dropped_too_long += 1
            self.dropped_indices.append(index)
            return
        self.truncated += int(example.truncated)
        examples.append(example)


@dataclass(frozen=True)
class Specials:
    """The special tokens label building needs, read once from a tokenizer."""

    prefix: tuple[int, ...]  # ids the tokenizer puts before text (usually BOS), or ()
    end_id: int  # the token that ends an answer and is always trained
    bos_text: str = ""

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, stop: Sequence[str] = ()) -> "Specials":
        """Find the BOS prefix the tokenizer adds, and the answer-ending token.

        The end token is the format's end-of-turn marker when that is one token (ChatML's
        <|im_end|>, Gemma's <end_of_turn>), since that is what the template writes after an answer
        and what generation stops on; otherwise the tokenizer's EOS.
        """
        with_special = tokenizer("x", add_special_tokens=True)["input_ids"]
        without = tokenizer("x", add_special_tokens=False)["input_ids"]
        prefix: tuple[int, ...] = ()
        if without and len(with_special) > len(without) and with_special[-len(without):] == without:
            prefix = tuple(with_special[: len(with_special) - len(without)])
        end_id = None
        for text in stop:
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            added = set(getattr(tokenizer, "added_tokens_decoder", {}) or {}) | set(tokenizer.all_special_ids)
            if len(ids) == 1 and ids[0] in added:  # a real control token, not a word that happens to be one token
                end_id = ids[0]
                break
        if end_id is None:
            end_id = tokenizer.eos_token_id
        if end_id is None:
            from seedtune.errors import SeedtuneError

            raise SeedtuneError("the tokenizer has no EOS token, so the model could never learn to stop",
                                hint="use a tokenizer with an eos_token, or set tokenizer.eos_token before training")
        return cls(prefix=prefix, end_id=int(end_id), bos_text=tokenizer.bos_token or "")


def build_example(prompt_ids: Sequence[int], target_ids: Sequence[int], end_id: int, index: int = -1) -> Example:
    """Concatenate prompt + target + end; mask the prompt. Pure: the core of label building."""
    ids = [*prompt_ids, *target_ids, end_id]
    labels = [IGNORE] * len(prompt_ids) + [*target_ids, end_id]
    return Example(input_ids=ids, labels=labels, prompt_len=len(prompt_ids), index=index)


def build_turns_example(pieces: Sequence[tuple[Sequence[int], Sequence[int]]], end_id: int, index: int = -1) -> Example:
    """[(context ids, answer ids)] per assistant turn -> one example; contexts masked, each answer
    and its end token trained. Pure, like `build_example`, which is the one-turn case."""
    ids: list[int] = []
    labels: list[int] = []
    spans = []
    for context, target in pieces:
        ids += [*context]
        labels += [IGNORE] * len(context)
        start = len(ids)
        ids += [*target, end_id]
        labels += [*target, end_id]
        spans.append((start, len(ids)))
    return Example(input_ids=ids, labels=labels, prompt_len=len(pieces[0][0]) if pieces else 0, index=index,
                   spans=tuple(spans))


def _fit_turns(example: Example, max_length: int, policy: str) -> Example | None:
    """A too-long conversation loses its earliest tokens; an answer cut into is masked entirely
    (half an answer would teach stopping mid-sentence). None when no answer is left whole."""
    if policy != "truncate-prompt-left":
        return None
    cut = len(example) - max_length
    spans = tuple((a - cut, b - cut) for a, b in example.spans if a > cut)  # an answer needs a token of context
    if not spans:
        return None
    labels = [IGNORE] * max_length
    for a, b in spans:
        labels[a:b] = example.labels[a + cut:b + cut]
    return Example(input_ids=example.input_ids[cut:], labels=labels, prompt_len=spans[0][0], index=example.index,
                   truncated=True, spans=spans)


def fit_length(example: Example, max_length: int, policy: str) -> Example | None:
    """Apply the length policy: keep, cut the prompt from the left, or drop (None).

    Truncating the prompt from the left keeps the answer whole (training on half an answer
    teaches the model to stop mid-sentence) and keeps the leading special prefix is not
    attempted: a left-cut prompt is a fragment either way. When even the target + end does not
    fit (with one prompt token left), the row is dropped.
    """
    if len(example) <= max_length:
        return example
    if example.spans:
        return _fit_turns(example, max_length, policy)
    if policy != "truncate-prompt-left":
        return None
    target_len = len(example) - example.prompt_len
    keep_prompt = max_length - target_len
    if keep_prompt < 1:
        return None
    cut = example.prompt_len - keep_prompt
    return Example(input_ids=example.input_ids[cut:], labels=example.labels[cut:], prompt_len=keep_prompt,
                   index=example.index, truncated=True)


def tokenize_pairs(
    tokenizer: Any,
    pairs: Iterable[tuple[str, str]],
    specials: Specials,
    max_length: int,
    truncation: str = "drop",
) -> tuple[list[Example], TokenizeReport]:
    """(prompt, target) texts -> examples under the length policy, plus counts of what happened."""
    pairs = list(pairs)
    report = TokenizeReport(rows_in=len(pairs))
    prompts = [p for p, _ in pairs]
    targets = [t for _, t in pairs]
    # Batch-encode: the fast tokenizer does this in Rust, far quicker than one call per row.
    p_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []
    t_ids = tokenizer(targets, add_special_tokens=False)["input_ids"] if targets else []
    joint = tokenizer([p + t for p, t in pairs], add_special_tokens=False)["input_ids"] if pairs else []
    examples: list[Example] = []
    for i, (prompt, target) in enumerate(pairs):
        if not target.strip():
            report.dropped_empty_target += 1
            report.dropped_indices.append(i)
            continue
        # The rendered prompt may already start with the BOS text (chat templates often write it).
        prefix = () if specials.bos_text and prompt.startswith(specials.bos_text) else specials.prefix
        prompt_ids = [*prefix, *p_ids[i]]
        if joint[i][: len(p_ids[i])] != p_ids[i]:
            report.boundary_merges += 1
        report.admit(examples, fit_length(build_example(prompt_ids, t_ids[i], specials.end_id, index=i),
                                          max_length, truncation), i)
    report.rows_kept = len(examples)
    return examples, report


def tokenize_turns(
    tokenizer: Any,
    conversations: Sequence[Sequence[tuple[str, str]]],
    specials: Specials,
    max_length: int,
    truncation: str = "drop",
) -> tuple[list[Example], TokenizeReport]:
    """Conversations as [(context, answer)] per assistant turn -> examples trained on every answer."""
    report = TokenizeReport(rows_in=len(conversations))
    examples: list[Example] = []
    for i, pieces in enumerate(conversations):
        if not pieces or any(not answer.strip() for _, answer in pieces):
            report.dropped_empty_target += 1
            report.dropped_indices.append(i)
            continue
        ids = [(tokenizer(c, add_special_tokens=False)["input_ids"], tokenizer(a, add_special_tokens=False)["input_ids"])
               for c, a in pieces]
        prefix = () if specials.bos_text and pieces[0][0].startswith(specials.bos_text) else specials.prefix
        ids[0] = ([*prefix, *ids[0][0]], ids[0][1])
        report.admit(examples, fit_length(build_turns_example(ids, specials.end_id, index=i), max_length, truncation), i)
    report.rows_kept = len(examples)
    return examples, report


@dataclass
class CheckReport:
    """The pre-flight checks on labels; `ok` is False when any hard check failed."""

    prompt_never_trained: bool = True
    end_token_trained: bool = True
    every_row_trained: bool = True
    prompt_is_prefix: bool = True
    trained_fraction: float = 0.0
    trained_tokens: int = 0
    total_tokens: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def check_examples(examples: Sequence[Example], end_id: int, prompts: Sequence[Sequence[int]] | None = None) -> CheckReport:
    """Verify the label invariants on every example (cheap: one pass over the ids).

    `prompts`, when given, are the prompt ids each example must start with (after any left cut).
    """
    rep = CheckReport()
    for k, ex in enumerate(examples):
        where = f"row {ex.index if ex.index >= 0 else k}"
        inside = [False] * len(ex.labels)
        for a, b in ex.trained_spans:
            inside[a:b] = [True] * (b - a)
        if any(x != IGNORE and not ok for x, ok in zip(ex.labels, inside)):
            rep.prompt_never_trained = False  # a prompt (user/system) token carries a label
            rep.failures.append(f"{where}: a prompt token is trained")
        if any(b < 1 or ex.labels[b - 1] != end_id or ex.input_ids[b - 1] != end_id for _, b in ex.trained_spans):
            rep.end_token_trained = False
            rep.failures.append(f"{where}: the end token is not trained")
        if any(x == IGNORE for a, b in ex.trained_spans for x in ex.labels[a:b]) and ex.spans:
            rep.failures.append(f"{where}: an assistant turn is only partly trained")
        n = ex.trained
        if n == 0:
            rep.every_row_trained = False
            rep.failures.append(f"{where}: no trained token")
        if prompts is not None:
            p = list(prompts[k])
            if list(ex.input_ids[: len(p)]) != p:
                rep.prompt_is_prefix = False
                rep.failures.append(f"{where}: the prompt ids are not a prefix of the row")
        if any(l != IGNORE and l != i for l, i in zip(ex.labels, ex.input_ids)):
            rep.failures.append(f"{where}: a label differs from its input id")
        rep.trained_tokens += n
        rep.total_tokens += len(ex)
    rep.trained_fraction = rep.trained_tokens / rep.total_tokens if rep.total_tokens else 0.0
    return rep
