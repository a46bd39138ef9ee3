"""Continuous batching for the transformers engine: a finished row's place goes to the next prompt.

Why: transformers' `generate` runs a batch until its longest row ends. Eval answers are short and
uneven (a tuned student answers most held-out prompts in 2-10 tokens while one or two rows run to
the limit), so a static batch spends most of its decode steps on a few long rows while the others
ride along as padding: 48 prompts at batch 32 took 43 forward passes where the longest answer
needs 22. Here a row leaves the batch on the step it finishes and waiting prompts are prefilled
into the free places, so the passes are about (tokens / batch) + the longest answer.

How (cache keys/values [rows, kv heads, columns, head dim], padding mask [rows, columns]): every
row is [left padding][its real tokens], right-aligned, so all rows write their next token into the
same column, as under `generate`.
- a step feeds each row's last chosen token with the mask and the row's own position id;
- rows that finished are dropped from the cache, the mask and the positions (one index select);
- new rows are prefilled together, left-padded as `generate` pads them, into a cache of their own
  that is then padded on the left to the wider of the two and concatenated along the batch;
- prompts that start alike (a format's header, a task's instruction; the queue is sorted by token
  ids so they meet) run that prefix once at batch 1 and repeat its cache: the held-out prompts in
  Alpaca format share 22 of their 42-64 tokens;
- columns that are padding in every row are cut from the left.
A padded column is masked, so it adds exactly zero to attention: the answers are `generate`'s up
to the float rounding that batching with left padding already causes (`bench/eval.py` prints how
many are identical). The cache is a config-less `DynamicCache`: every layer keeps all its columns
(a local-attention layer is still masked to its window by the model's own mask), so rows can move
between caches column for column.

Not here (they keep `generate`): `top_logprobs` requests (the judge reads the first position's full
logits), streaming, models whose generation config changes scores (`head.score_changer`) and models
with layers that are not plain attention (`supported`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from seedtune.teachers.local import shared_prefix

# Refill when at least this share of the batch is free (or the queue fits): each refill is one more
# forward pass that reads every weight, like a decode step, so tiny refills would cost more than the
# waiting they save.
REFILL_SHARE = 4
# A shared prompt prefix shorter than this is recomputed per row: running it apart costs a pass.
MIN_SHARED = 8


@dataclass
class Row:
    """One sequence to generate. `tokens` holds what was chosen so far; the last one is not yet in the cache."""

    key: Any  # the caller's name for it, handed back with the tokens
    ids: list[int]
    max_tokens: int
    eos: frozenset[int]
    text_stops: tuple[str, ...] = ()
    temperature: float = 0.0
    top_p: float = 1.0
    generator: torch.Generator | None = None
    tokens: list[int] = field(default_factory=list)


def sample_token(scores: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """One token from one row's scores [vocab]: temperature, then nucleus (top-p) sampling."""
    probs = torch.softmax(scores.float().cpu() / temperature, dim=-1)
    if top_p < 1.0:
        # Nucleus sampling (Holtzman et al. 2020): keep the smallest prefix of the sorted
        # distribution whose mass reaches top_p; the most likely token is always kept.
        sorted_probs, order = torch.sort(probs, descending=True)
        cumulative = torch.cumsum(sorted_probs, dim=-1)
        sorted_probs[cumulative - sorted_probs > top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator).item())


def supported(model: Any) -> str | None:
    """Why this loop cannot run `model` (None: it can): it needs plain (full or local) attention layers
    whose keys and values a config-less `DynamicCache` holds per layer."""
    from transformers.cache_utils import DynamicCache

    if not hasattr(DynamicCache(), "layers"):
        return "this transformers version keeps its cache in another layout"
    config = _text_config(model)
    kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
    if not kinds <= {"full_attention", "sliding_attention"}:
        return f"layer types {sorted(kinds)}"
    if getattr(config, "num_kv_shared_layers", 0) or getattr(config, "is_encoder_decoder", False):
        return "layers share or cross-attend to a cache"
    return None


class _Batch:
    """The rows in flight with their cache, padding mask and next position ids."""

    def __init__(self, rows: list[Row], cache: Any, mask: torch.Tensor, positions: torch.Tensor, keyword: str):
        self.rows, self.cache, self.mask, self.positions = rows, cache, mask, positions
        self.keyword = keyword  # the forward argument that takes the cache (_cache_keyword)

    def _layers(self) -> list[Any]:
        return _filled(self.cache)

    def step(self, model: Any) -> torch.Tensor:
        """Feed every row's last token; the next-token scores [rows, vocab]."""
        ids = torch.tensor([[row.tokens[-1]] for row in self.rows], device=self.mask.device)
        self.mask = torch.cat([self.mask, self.mask.new_ones(len(self.rows), 1)], dim=1)
        out = model(input_ids=ids, attention_mask=self.mask, position_ids=self.positions[:, None],
                    **{self.keyword: self.cache}, use_cache=True, logits_to_keep=1)
        self.positions = self.positions + 1
        return out.logits[:, -1]

    def keep(self, index: list[int]) -> None:
        """Keep only these rows, then cut the columns that are padding in all of them."""
        if len(index) < len(self.rows):
            at = torch.tensor(index, dtype=torch.long, device=self.mask.device)
            for layer in self._layers():
                layer.keys, layer.values = layer.keys[at], layer.values[at]
            self.rows = [self.rows[i] for i in index]
            self.mask, self.positions = self.mask[at], self.positions[at]
        if self.rows:
            lead = int((self.mask.cumsum(dim=1) == 0).sum(dim=1).min())  # leading pad columns in every row
            if lead:
                for layer in self._layers():
                    layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]
                self.mask = self.mask[:, lead:]

    def join(self, other: _Batch) -> None:
        """Append `other`'s rows, both padded on the left to the wider of the two."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self._layers(), other._layers(), strict=True):
            mine.keys = torch.cat([_left_pad(mine.keys, width), _left_pad(theirs.keys, width)])
            mine.values = torch.cat([_left_pad(mine.values, width), _left_pad(theirs.values, width)])
        self.mask = torch.cat([_left_pad(self.mask, width), _left_pad(other.mask, width)])
        self.positions = torch.cat([self.positions, other.positions])
        self.rows += other.rows


def _window(model: Any) -> int | None:
    """The local attention window of the model's sliding layers, if it has any."""
    return getattr(_text_config(model), "sliding_window", None) or None


def _text_config(model: Any) -> Any:
    """The decoder's config (a multimodal model nests it)."""
    config = model.config
    return config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config


def _cache_keyword(model: Any) -> str:
    """The forward argument that takes the cache: `cache` in newer transformers, where
    `past_key_values` is deprecated, `past_key_values` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _filled(cache: Any) -> list[Any]:
    """The cache's layers that hold keys and values."""
    return [layer for layer in cache.layers if getattr(layer, "keys", None) is not None]


def left_pad_ids(id_lists: Sequence[list[int]], pad_id: int, device: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists as one left-padded batch: (ids [rows, width], mask [rows, width], 1 on real tokens)."""
    width = max(len(ids) for ids in id_lists)
    ids = torch.full((len(id_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, tokens in enumerate(id_lists):
        if tokens:
            ids[row, width - len(tokens):] = torch.tensor(tokens, dtype=torch.long)
            mask[row, width - len(tokens):] = 1
    return ids.to(device), mask.to(device)


def _left_pad(tensor: torch.Tensor, width: int) -> torch.Tensor:
    """Zeros before `tensor`'s columns (dim 2 of a 4-D cache tensor, dim 1 of a 2-D mask) up to `width`."""
    dim = 2 if tensor.dim() == 4 else 1
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _prefill(model: Any, rows: list[Row], pad_id: int, device: Any, share: bool) -> tuple[_Batch, torch.Tensor]:
    """Run the prompts of `rows` into a new cache; (batch, first-token scores [rows, vocab]).

    Prompts that start alike (a format's header, a task's instruction and demonstrations) share
    that prefix: it runs once, at batch 1, and its cache is repeated for every row; the rest of
    each prompt is left-padded after it ([prefix][padding][own tokens], padding masked).
    """
    from transformers.cache_utils import DynamicCache

    cache, keyword = DynamicCache(), _cache_keyword(model)
    common = shared_prefix([row.ids for row in rows]) if share and len(rows) > 1 else 0
    if common < MIN_SHARED:
        common = 0
    if common:
        prefix = torch.tensor([rows[0].ids[:common]], device=device)
        model(input_ids=prefix, position_ids=torch.arange(common, device=device)[None], **{keyword: cache},
              use_cache=True, logits_to_keep=1)
        for layer in _filled(cache):
            layer.keys = layer.keys.expand(len(rows), -1, -1, -1)
            layer.values = layer.values.expand(len(rows), -1, -1, -1)
    ids, own = left_pad_ids([row.ids[common:] for row in rows], pad_id, device)
    positions = (own.cumsum(dim=1) - 1 + common).masked_fill(own == 0, 1)  # as `generate` numbers left-padded rows
    mask = torch.cat([own.new_ones(len(rows), common), own], dim=1)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **{keyword: cache}, use_cache=True,
                logits_to_keep=1)
    return _Batch(list(rows), cache, mask, mask.sum(dim=1), keyword), out.logits[:, -1]


def generate_rows(model: Any, rows: Sequence[Row], *, batch_size: int, pad_id: int, device: Any,
                  decode: Callable[[list[int]], str], on_done: Callable[[Row], None]) -> int:
    """Generate every row, at most `batch_size` in flight; `on_done(row)` as each one finishes.

    Rows start in the order of their prompts' token ids, so prompts that share a prefix (a task's
    instruction) are prefilled together. Returns the number of prefills run (the engine's `batches`)."""
    if not rows:
        return 0
    queue = deque(sorted(rows, key=lambda row: row.ids))
    # A shared prefix is followed by padding, so a row's tokens are not contiguous columns, and a
    # local attention window counts columns. From a row's first token on, its columns are at most
    # the longest prompt plus max_tokens: share only where that stays inside the window.
    window = _window(model)
    share = not window or max(len(row.ids) for row in rows) + max(row.max_tokens for row in rows) < window
    batch: _Batch | None = None
    prefills = 0
    with torch.inference_mode():
        while queue or (batch is not None and batch.rows):
            active = len(batch.rows) if batch is not None else 0
            free = batch_size - active
            if queue and (not active or free >= max(1, batch_size // REFILL_SHARE) or len(queue) <= free):
                joining = [queue.popleft() for _ in range(min(free, len(queue)))]
                fresh, scores = _prefill(model, joining, pad_id, device, share)
                prefills += 1
                fresh.keep(_choose(fresh.rows, scores, pad_id, decode, on_done))
                if not fresh.rows:
                    continue
                if batch is None or not batch.rows:
                    batch = fresh
                else:
                    batch.join(fresh)
            else:
                assert batch is not None
                batch.keep(_choose(batch.rows, batch.step(model), pad_id, decode, on_done))
    return prefills


def _choose(rows: list[Row], scores: torch.Tensor, pad_id: int, decode: Callable[[list[int]], str],
            on_done: Callable[[Row], None]) -> list[int]:
    """Append each row's next token; hand finished rows to `on_done`; the indices of those still going."""
    greedy = scores.argmax(dim=-1).tolist()
    going = []
    for i, row in enumerate(rows):
        token = (greedy[i] if row.temperature <= 0
                 else sample_token(scores[i], row.temperature, row.top_p, row.generator))
        row.tokens.append(token)
        # A pad token ends the row: the answer is cut before it (LocalPrompter.answer), as under generate.
        done = (token in row.eos or token == pad_id or len(row.tokens) >= row.max_tokens
                or (row.text_stops and any(stop in decode(row.tokens) for stop in row.text_stops)))
        if done:
            on_done(row)
        else:
            going.append(i)
    return going
