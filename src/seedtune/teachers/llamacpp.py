"""A local teacher on llama.cpp (`llama-cpp-python`, optional): the same answers as `HFTeacher`, faster on CPU.

Why: on a CPU, transformers' `generate` pays Python and framework overhead per token and pads
every batch to its longest row; llama.cpp runs the whole forward pass in C with SIMD kernels.
The model directory (safetensors, or a LoRA adapter, merged first) is converted once to GGUF
into the seedtune cache (`models/gguf.py`, keyed by the model's fingerprint).

Continuous batching: up to `batch_size` sequences live in one llama.cpp context, each under its
own sequence id in a shared (unified) KV cache, and every `llama_decode` call carries one new
token for every live sequence plus the prompts of sequences just admitted. A finished sequence
frees its slot at once for the next request, so nothing waits for the longest row of a batch
and no token is padding. (The high-level `Llama` API runs one sequence at a time.)

Shared prompt prefixes run once: chat prompts begin with the same template and system prompt
(SmolLM2: 24 of its ~40 tokens for a short request), and in a unified KV cache a second sequence
can use the cells of the first (`llama_memory_seq_cp` tags cells, it copies nothing). An admitted
row starts after the longest prompt prefix a live row holds; the prompt work left is its own suffix.

Same answers: prompts are rendered and tokenized by the model's own Hugging Face tokenizer and
prompt format, and answers decoded by it (`teachers/local.py`, shared with `HFTeacher`); llama.cpp
only maps token ids to logits. Greedy answers then differ from transformers' only where the two
kernels' rounding flips a near-tie (bench/generate.py and bench/eval.py print the agreement).
Sampling: temperature and nucleus (top-p) in numpy, one generator per sequence seeded from
(request seed, sample index), so a seeded request gets the same answer alone or in any batch —
not the same draw as transformers' generator, so the cache keeps the engines' answers apart.
"""

from __future__ import annotations

import ctypes
import json
import os
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seedtune.errors import SeedtuneError
from seedtune.teachers.base import Completion, OnResult, Request
from seedtune.teachers.local import (LocalPrompter, Sample, completion_of, count_usage, model_fingerprint, row_seed,
                                     shared_prefix)

# dtype names (as for hf:) -> GGUF tensor type. Unset: f16, chosen by measurement (bench/generate.py,
# SmolLM2 greedy, 16 prompts x 48 tokens): f16 gave 16/16 answers identical to transformers' fp32 at
# the speed of bf16, bf16 14/16 (7 mantissa bits against f16's 10 flip more near-ties).
GGUF_TYPES = {None: "f16", "bfloat16": "bf16", "bf16": "bf16", "float16": "f16", "fp16": "f16", "f16": "f16",
              "half": "f16", "float32": "f32", "fp32": "f32", "f32": "f32", "q8_0": "q8_0"}
INSTALL_HINT = "pip install 'seedtune[speed]' (compiles llama.cpp: needs cmake and a C++ compiler), or use engine: hf"


def import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise SeedtuneError("the llama.cpp engine needs llama-cpp-python, which is not installed",
                            hint=INSTALL_HINT) from exc
    return llama_cpp


def cpu_count() -> int:
    """The cores this process may run on (a container's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass
class _Row:
    """One sampled sequence in flight: its request, the tokens still to feed, what it generated."""

    index: int
    sample: int
    request: Request
    prompt: list[int]
    feed: list[int]
    stops: list[str]
    eos: set[int]
    rng: np.random.Generator | None
    pos: int = 0
    seq: int = -1
    need: int = 0  # KV cells reserved at admission: the prompt and every token it may generate
    tokens: list[int] = field(default_factory=list)
    top: dict[str, float] | None = None


class _Context:
    """One llama.cpp model + context with `slots` sequences sharing a KV cache of `n_ctx` cells."""

    _log_callback: Any = None  # kept referenced: llama.cpp calls it from C

    def __init__(self, path: Path, slots: int, n_ctx: int, threads: int):
        L = import_llama_cpp()
        if _Context._log_callback is None:
            _Context._log_callback = L.llama_log_callback(lambda level, text, data: None)  # silence llama.cpp's chatter
            L.llama_log_set(_Context._log_callback, ctypes.c_void_p())
            L.llama_backend_init()
        self.L = L
        self.model = L.llama_model_load_from_file(str(path).encode(), L.llama_model_default_params())
        if not self.model:
            raise SeedtuneError(f"llama.cpp could not load {path}", hint="delete the file to convert it again, or use engine: hf")
        self.n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self.model))
        self.n_ctx = min(n_ctx, slots * L.llama_model_n_ctx_train(self.model))
        params = L.llama_context_default_params()
        params.n_ctx, params.n_seq_max, params.kv_unified = self.n_ctx, slots, True
        params.n_batch = params.n_ubatch = min(self.n_ctx, 512)
        params.n_threads = params.n_threads_batch = threads
        self.ctx = L.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise SeedtuneError(f"llama.cpp could not make a context of {self.n_ctx} tokens for {path}",
                                hint="lower batch_size, or use engine: hf")
        self.n_batch = params.n_batch
        self.memory = L.llama_get_memory(self.ctx)
        # Sliding-window layers drop a sequence's cells that fall out of its window: a prefix is
        # shared only while its donor is still inside the window, so nothing was dropped yet.
        self.n_swa = L.llama_model_n_swa(self.model) or None
        self.recurrent = bool(L.llama_model_is_recurrent(self.model) or L.llama_model_is_hybrid(self.model))
        self.batch = L.llama_batch_init(self.n_batch, 0, 1)

        # Freed when the context is collected or, at the latest, at interpreter exit (before the
        # ctypes bindings are torn down, which a __del__ could not rely on).
        self._free = weakref.finalize(self, _free, L, self.ctx, self.model, self.batch)

    def close(self) -> None:
        self._free()

    def forget(self, seq: int) -> None:
        self.L.llama_memory_seq_rm(self.memory, seq, -1, -1)

    def share(self, source: int, target: int, length: int) -> None:
        """Let sequence `target` see `source`'s cells at positions [0, length) as its own."""
        self.L.llama_memory_seq_cp(self.memory, source, target, 0, length)

    def decode(self, items: Sequence[tuple[int, int, int, bool]]) -> dict[int, np.ndarray]:
        """Decode (token, position, sequence, wants logits) items in chunks of `n_batch`; returns
        {item index: a copy of its logits} for the items that want them."""
        out: dict[int, np.ndarray] = {}
        batch = self.batch
        for start in range(0, len(items), self.n_batch):
            chunk = items[start:start + self.n_batch]
            batch.n_tokens = len(chunk)
            for i, (token, pos, seq, want) in enumerate(chunk):
                batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, 1, want
                batch.seq_id[i][0] = seq
            code = self.L.llama_decode(self.ctx, batch)
            if code != 0:
                raise SeedtuneError(f"llama.cpp could not decode a batch (code {code}: no room in the KV cache)",
                                    hint="lower batch_size or max_tokens, or use engine: hf")
            for i, (_, _, _, want) in enumerate(chunk):
                if want:
                    pointer = self.L.llama_get_logits_ith(self.ctx, i)
                    out[start + i] = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()
        return out


class LlamaCppTeacher:
    """Local teacher on llama.cpp, answering like `HFTeacher` (see the module docstring).

    `batch_size` sequences decode together; `threads` defaults to the cores this process may use;
    `n_ctx` is the KV cache shared by all sequences (a request is admitted when its prompt plus
    `max_tokens` fits in what is free)."""

    engine = "llamacpp"

    def __init__(self, name_or_path: str = "smollm2-135m-instruct", batch_size: int = 16, dtype: str | None = None,
                 prompt_format: Any = None, threads: int | None = None, n_ctx: int | None = None, **_: Any):
        from seedtune.models import resolve_model
        from seedtune.models.gguf import cached_gguf, unsupported
        from seedtune.models.loading import load_tokenizer
        from seedtune.prompts import load_format
        from seedtune.prompts.formats import for_model

        import_llama_cpp()
        directory = Path(resolve_model(name_or_path))
        reason = unsupported(directory)
        if reason:
            raise SeedtuneError(f"the llama.cpp engine cannot run {directory.name}: {reason}", hint="use engine: hf")
        key = None if dtype is None else str(dtype).lower()
        if key not in GGUF_TYPES:
            raise SeedtuneError(f"unknown dtype {dtype!r} for the llama.cpp engine",
                                hint=f"use one of: {', '.join(k for k in GGUF_TYPES if k)}")
        self.gguf_type = GGUF_TYPES[key]
        tokenizer = load_tokenizer(directory)
        prompt_format = prompt_format or load_format(directory) or for_model(tokenizer)
        self.prompt_format = prompt_format
        self.prompter = LocalPrompter(tokenizer, prompt_format, _generation_eos(directory))
        self.path = cached_gguf(directory, self.gguf_type)
        self.batch_size = max(1, int(batch_size))
        self.threads = threads or cpu_count()
        self._context = _Context(self.path, self.batch_size, n_ctx or 1024 * self.batch_size, self.threads)
        fingerprint = model_fingerprint(directory)
        self.model_id = (f"llamacpp:{name_or_path}" + (f"@{fingerprint}" if fingerprint and Path(name_or_path).exists() else "")
                         + f"[{self.gguf_type}]")
        self.stats = {"engine": self.engine, "gguf": self.gguf_type, "threads": self.threads, "requests": 0,
                      "decode_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "shared_prompt_tokens": 0}

    def close(self) -> None:
        self._context.close()

    # -- generation ----------------------------------------------------------------------------

    def generate(self, requests: Sequence[Request], on_result: OnResult | None = None) -> list[Completion]:
        """Answer every request in input order; `on_result` hears of each one as soon as its last
        sample is done (write-through)."""
        waiting: deque[_Row] = deque()
        prompt_tokens = []
        for index, request in enumerate(requests):
            ids = self.prompter.encode(request)
            prompt_tokens.append(len(ids))
            stops = self.prompter.stops_for(request)
            eos = set(self.prompter.eos_ids(stops))
            for sample in range(max(1, request.n)):
                rng = np.random.default_rng(row_seed(request, sample)) if request.temperature > 0 else None
                waiting.append(_Row(index, sample, request, ids, list(ids), self.prompter.text_stops(stops, eos), eos, rng))
        samples: dict[int, dict[int, Sample]] = {}
        out: list[Completion | None] = [None] * len(requests)
        for row in self._run(waiting):
            request = requests[row.index]
            text, reason, length = self.prompter.answer(row.tokens, row.eos, self.prompter.stops_for(request))
            done = samples.setdefault(row.index, {})
            done[row.sample] = (text, reason, length, row.top)
            if len(done) == max(1, request.n):  # samples may finish in any order
                out[row.index] = completion_of(request, self.model_id, prompt_tokens[row.index], [done[s] for s in sorted(done)])
                if on_result is not None:
                    on_result(row.index, out[row.index])
        completions = [c for c in out if c is not None]
        count_usage(self.stats, requests, prompt_tokens, completions)
        return completions

    def _run(self, waiting: deque[_Row]) -> Iterator[_Row]:
        """Continuous batching: admit rows while a slot and KV room are free, decode one step for
        all live rows, yield each row the moment it finishes."""
        context = self._context
        free = list(range(self.batch_size))[::-1]
        live: list[_Row] = []
        room = context.n_ctx
        while waiting or live:
            while waiting and free and _need(waiting[0]) <= room:
                row = waiting.popleft()
                row.seq, row.need = free.pop(), _need(row)
                room -= row.need
                context.forget(row.seq)
                self._share_prefix(row, live)
                live.append(row)
            if not live:
                raise SeedtuneError(f"a request needs {_need(waiting[0])} tokens of context, more than the engine's "
                                    f"{context.n_ctx}", hint="pass a larger n_ctx, lower max_tokens, or use engine: hf")
            items, owners = [], {}
            for row in live:
                for k, token in enumerate(row.feed):
                    last = k == len(row.feed) - 1
                    if last:
                        owners[len(items)] = row
                    items.append((token, row.pos + k, row.seq, last))
                row.pos += len(row.feed)
            logits = context.decode(items)
            self.stats["decode_calls"] += 1
            for item, row in owners.items():
                if self._step(row, logits[item]):
                    live.remove(row)
                    context.forget(row.seq)
                    free.append(row.seq)
                    room += row.need
                    yield row

    def _share_prefix(self, row: _Row, live: Sequence[_Row]) -> None:
        """Start a just-admitted `row` after the longest prompt prefix it shares with a live row.

        A donor admitted in this same round has nothing in the cache yet: its part of the prefix
        is decoded first, in a call of its own, when that saves a step's worth of prompt work
        (`_PREFILL_SHARED` tokens or more); cells already in the cache are shared however few.
        The last prompt token is never shared: its logits give the row's first answer token."""
        context = self._context
        if context.recurrent:  # a recurrent state is one per sequence, not cells to share
            return
        donor, length = None, 0
        for other in live:
            if other.pos and context.n_swa and other.pos >= context.n_swa:
                continue
            n = shared_prefix([row.prompt, other.prompt])
            if n > length:
                donor, length = other, n
        if donor is None or (donor.pos < length and length < _PREFILL_SHARED):
            return
        if donor.pos < length:
            context.decode([(donor.prompt[p], p, donor.seq, False) for p in range(donor.pos, length)])
            self.stats["decode_calls"] += 1
            donor.feed, donor.pos = donor.feed[length - donor.pos:], length
        context.share(donor.seq, row.seq, length)
        row.feed, row.pos = row.feed[length:], length
        self.stats["shared_prompt_tokens"] += length

    def _step(self, row: _Row, logits: np.ndarray) -> bool:
        """Choose the row's next token from its logits; True when the row is finished."""
        request = row.request
        if request.top_logprobs and not row.tokens:
            row.top = self._top_logprobs(logits, request.top_logprobs)
        token = _choose(logits, request.temperature, request.top_p, row.rng)
        row.tokens.append(token)
        row.feed = [token]
        if token in row.eos or token == self.prompter.pad_id or len(row.tokens) >= request.max_tokens:
            return True
        if row.stops:
            # Decoding the whole answer each step costs microseconds at these lengths, and a stop
            # string can span tokens.
            text = self.prompter.tokenizer.decode(row.tokens, skip_special_tokens=True)
            return any(s in text for s in row.stops)
        return False

    def _top_logprobs(self, logits: np.ndarray, k: int) -> dict[str, float]:
        logprobs = _log_softmax(logits)
        top = np.argsort(-logprobs, kind="stable")[:k]
        return self.prompter.merge_top(logprobs[top].tolist(), top.tolist())


def _free(L: Any, ctx: Any, model: Any, batch: Any) -> None:
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    L.llama_model_free(model)


# A donor's prefix is decoded in a call of its own only when it is at least this long: below it,
# the extra call (the weights read once more) costs about what sharing saves.
_PREFILL_SHARED = 16


def _need(row: _Row) -> int:
    """KV cells a waiting row may use: its prompt and every token it may generate."""
    return len(row.feed) + row.request.max_tokens


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """In float64: the first-token log-probabilities a judge reads must not lose small values."""
    shifted = logits.astype(np.float64) - float(logits.max())
    return shifted - np.log(np.exp(shifted).sum())


def _choose(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator | None) -> int:
    """Greedy (first maximum, as torch.argmax) at temperature 0; else temperature + nucleus sampling
    (Holtzman et al. 2020: the smallest prefix of the sorted distribution reaching top_p; the most
    likely token is always kept), drawn by inverse CDF from one uniform number."""
    if temperature <= 0 or rng is None:
        return int(np.argmax(logits))
    weights = np.exp((logits - logits.max()) / np.float32(temperature))  # float32, unnormalised
    if top_p >= 1.0:
        return _draw(weights, rng.random())
    # Sorting a 50k-262k vocabulary per token would cost milliseconds. The tokens above a weight
    # threshold are exactly the head of the sorted order, so when their mass reaches top_p the
    # nucleus lies among them (almost always: a few hundred tokens); sort all only otherwise.
    total = float(weights.sum(dtype=np.float64))
    order = np.flatnonzero(weights >= np.float32(_NUCLEUS_FLOOR))  # max weight is 1
    if float(weights[order].sum(dtype=np.float64)) < top_p * total:
        order = np.arange(len(weights))
    order = order[np.argsort(-weights[order], kind="stable")]
    mass = np.cumsum(weights[order], dtype=np.float64)
    kept = int(np.searchsorted(mass - weights[order], top_p * total, side="right"))  # prefix reaching top_p
    cdf = mass[:max(1, kept)]
    return int(order[min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(cdf) - 1)])


_NUCLEUS_FLOOR = 1e-4  # relative to the most likely token


def _draw(weights: np.ndarray, u: float, block: int = 256) -> int:
    """The index where the running sum of `weights` first exceeds u x their total (inverse CDF).

    In two levels: the sums of blocks of `block` weights, then the running sum inside the one
    block the draw falls in. One float64 running sum over a 49k-262k vocabulary cost 0.2-0.4 ms a
    token (most of a sampled step's Python time); this costs ~0.03 ms and can differ from it only
    through the rounding of sums, for a draw within ~1e-16 of a boundary."""
    n = len(weights)
    full = n - n % block  # a vocabulary shorter than a block is one partial block
    sums = np.add.reduce(weights[:full].reshape(-1, block), axis=1, dtype=np.float64)
    if full < n:
        sums = np.append(sums, weights[full:].sum(dtype=np.float64))
    cdf = np.cumsum(sums)
    target = u * cdf[-1]
    b = min(int(np.searchsorted(cdf, target, side="right")), len(cdf) - 1)
    inner = np.cumsum(weights[b * block:(b + 1) * block], dtype=np.float64)
    inner += cdf[b - 1] if b else 0.0
    return b * block + min(int(np.searchsorted(inner, target, side="right")), len(inner) - 1)


def _generation_eos(directory: Path) -> Any:
    """The model's generation_config.json `eos_token_id` (an id or a list), None without one."""
    path = directory / "generation_config.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("eos_token_id")
