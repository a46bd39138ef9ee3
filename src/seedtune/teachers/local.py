"""What every local teacher shares, whichever engine runs the model (transformers, llama.cpp).

Both engines must turn a request into the *same token ids* and read the answer back the same
way, or their answers could not be compared (nor a cached answer trusted across them): the
prompt is rendered with the model's prompt format and tokenized by its Hugging Face tokenizer,
stop strings are the format's end-of-turn strings plus the request's, EOS ids come from the
tokenizer and the generation config, and the answer is decoded by the same tokenizer.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from seedtune.teachers.base import Completion, Request

# One generated sequence: (text, finish reason, completion tokens, first-token top logprobs or None).
Sample = tuple[str, str, int, "dict[str, float] | None"]


def model_fingerprint(directory: Path | None) -> str:
    """Short hash of a model directory's file names, sizes and mtimes: a retrained model at the
    same path must not be answered from the cache of the old one (hashing GBs of weights would be slow)."""
    if directory is None or not directory.is_dir():
        return ""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".json", ".safetensors", ".bin", ".model", ".jinja"):
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:10]


def row_seed(request: Request, sample: int) -> int:
    """Seed for one sampled sequence: from the request's seed and the sample index, or fresh entropy."""
    if request.seed is None:
        return int.from_bytes(os.urandom(8), "little") & 0x7FFFFFFFFFFFFFFF
    blob = f"{request.seed}:{sample}".encode()
    return int.from_bytes(hashlib.sha256(blob).digest()[:8], "little") & 0x7FFFFFFFFFFFFFFF


def shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares, leaving each at least one of its own (its
    last token's scores give the first answer token, so it must run for every prompt)."""
    first, shortest = prompts[0], min(len(ids) for ids in prompts)
    n = 0
    while n < shortest - 1 and all(ids[n] == first[n] for ids in prompts):
        n += 1
    return n


def trim_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` at the first occurrence of any stop string; (text, whether a stop was found)."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def completion_of(request: Request, model_id: str, prompt_tokens: int, samples: Sequence[Sample]) -> Completion:
    """The completion of one request from its samples, in sample order."""
    return Completion(texts=[s[0] for s in samples], prompt_tokens=prompt_tokens,
                      completion_tokens=sum(s[2] for s in samples), finish_reasons=[s[1] for s in samples],
                      key=request.key(model_id), top_logprobs=[s[3] for s in samples if s[3] is not None])


def count_usage(stats: dict[str, Any], requests: Sequence[Request], prompt_tokens: Sequence[int],
                completions: Sequence[Completion]) -> None:
    stats["requests"] += len(requests)
    stats["prompt_tokens"] += sum(prompt_tokens)
    stats["completion_tokens"] += sum(c.completion_tokens for c in completions)


class LocalPrompter:
    """A request -> token ids, and token ids -> answer text, for one local model.

    `generation_eos` is the model's `generation_config.eos_token_id` (an id, a list, or None).
    """

    def __init__(self, tokenizer: Any, prompt_format: Any, generation_eos: Any = None):
        self.tokenizer = tokenizer
        self.prompt_format = prompt_format
        self.generation_eos = generation_eos
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self._vocab: dict[str, int] | None = None

    @property
    def vocab(self) -> dict[str, int]:
        """The tokenizer's vocabulary, read once: `get_vocab()` builds a new dict on every call
        (0.19 s for Gemma-3's 262k tokens), and stops are resolved per request."""
        if self._vocab is None:
            self._vocab = self.tokenizer.get_vocab()
        return self._vocab

    def render(self, request: Request) -> tuple[str, bool]:
        """(text, add_special_tokens): chat-rendered text already holds its BOS, raw prompts do not."""
        if request.prompt is not None:
            return request.prompt, True
        from seedtune.prompts import ChatTemplateFormat
        from seedtune.records import Message, Record

        messages = [Message(role=r, content=c) for r, c in request.messages]
        record = Record(instruction="", messages=messages)
        text = self.prompt_format.render_prompt(record)
        return text, not isinstance(self.prompt_format, ChatTemplateFormat)

    def encode(self, request: Request) -> list[int]:
        text, special = self.render(request)
        return list(self.tokenizer(text, add_special_tokens=special)["input_ids"])

    def stops_for(self, request: Request) -> list[str]:
        stops = list(request.stop)
        if request.prompt is None:
            stops += list(self.prompt_format.stop)
        return [s for s in dict.fromkeys(stops) if s]

    def eos_ids(self, stops: Sequence[str]) -> list[int]:
        """EOS ids: the tokenizer's and model's EOS plus every stop string that is one special token."""
        ids: set[int] = set()
        for source in (self.tokenizer.eos_token_id, self.generation_eos):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        vocab = self.vocab
        for stop in stops:
            tid = self.tokenizer.convert_tokens_to_ids(stop) if stop in vocab else None
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        return sorted(ids)

    def text_stops(self, stops: Sequence[str], eos_ids: Iterable[int]) -> list[str]:
        """The stop strings that are not already an EOS token (those must be found in the text)."""
        vocab, eos = self.vocab, set(eos_ids)
        return [s for s in stops if s not in vocab or self.tokenizer.convert_tokens_to_ids(s) not in eos]

    def answer(self, tokens: Sequence[int], eos_ids: Iterable[int], stops: Sequence[str]) -> tuple[str, str, int]:
        """(text, finish reason, completion tokens) of one generated row: cut after the first EOS
        (counted) or before the first pad (not counted), decoded, cut at the first stop string."""
        eos = set(eos_ids)
        length, ended = len(tokens), False
        for pos, token in enumerate(tokens):
            if token in eos:
                length, ended = pos + 1, True
                break
            if token == self.pad_id:
                length, ended = pos, True
                break
        text = self.tokenizer.decode(list(tokens[:length]), skip_special_tokens=True)
        text, hit = trim_at_stop(text, stops)
        return text, "stop" if ended or hit else "length", length

    def merge_top(self, values: Sequence[float], token_ids: Sequence[int]) -> dict[str, float]:
        """{text: log-probability} of the top tokens of one position; tokens that decode to the same
        text ('A' and its byte-level twin) are merged by adding their probabilities."""
        merged: dict[str, float] = {}
        for value, token_id in zip(values, token_ids):
            text = self.tokenizer.decode([int(token_id)])
            if text in merged:  # log(exp(a) + exp(b)), computed stably
                a, b = merged[text], float(value)
                value = max(a, b) + math.log1p(math.exp(-abs(a - b)))
            merged[text] = float(value)
        return merged
