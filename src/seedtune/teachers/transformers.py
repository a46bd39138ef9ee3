"""A local teacher on transformers: batched generation, stop strings, sampling.

Why batch: on CPU (and more so on GPU) one forward pass over 8-32 sequences costs little more
than over one (see `bench/generate.py`). By default rows are batched continuously
(`teachers/continuous.py`: a finished row's place goes to the next prompt, a shared prompt prefix
runs once); `top_logprobs` requests, streaming and models that loop cannot run use transformers'
`generate` on static batches of similar prompt length. Results always come back in input order.

Sampling is done row by row with one `torch.Generator` per sequence seeded from (request seed,
sample index) (`continuous.sample_token`; under `generate` inside a logits processor whose chosen
token is then picked greedily). So a
seeded request gives the same answer whether it runs alone or in a batch of strangers — the
property the request cache and resumable runs rely on. `temperature == 0` is plain greedy.

An all-greedy batch that reads no logprobs runs on the exact shortlist head (`teachers/head.py`)
where the model is fp32 with a large vocabulary on a device with native bf16: the same answers,
~1.6x the tokens/s of the full fp32 head on Gemma-3-270m. `shortlist="off"` keeps the full head.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.teachers.base import Completion, OnResult, Request
from seedtune.teachers.continuous import Row, generate_rows, left_pad_ids, sample_token
from seedtune.teachers.local import (LocalPrompter, Sample, completion_of, count_usage, model_fingerprint, row_seed,
                                     trim_at_stop)

__all__ = ["BATCHING_MODES", "HFTeacher", "SHORTLIST_MODES", "load_model", "model_fingerprint", "trim_at_stop"]

# auto: the shortlist head where it is exact and pays (teachers/head.py); force: wherever it is
# exact, even on a small vocabulary or without native bf16 (tests, benchmarks); off: never.
SHORTLIST_MODES = ("auto", "force", "off")
# continuous: rows leave the batch when they finish and waiting prompts take their place
# (teachers/continuous.py) wherever the model allows it; static: transformers' `generate` per batch.
BATCHING_MODES = ("continuous", "static")


def load_model(name_or_path: str, dtype: str | None = None) -> tuple[Any, Any, Path]:
    """(model, tokenizer, local directory) for a model name or path, through the one safe loader."""
    from seedtune.models import load_causal_lm, resolve_model

    model, tokenizer = load_causal_lm(name_or_path, dtype=dtype)
    return model, tokenizer, Path(resolve_model(name_or_path))


class _RowSampler:
    """Logits processor: temperature + top-p sampling with one generator per row (shape: scores [rows, vocab]).

    Returns logits that are -inf everywhere except the sampled token, so the surrounding greedy
    search picks exactly that token. Rows whose temperature is 0 are left untouched (greedy).
    """

    def __init__(self, temperatures: list[float], top_ps: list[float], seeds: list[int]):
        import torch

        self.temperatures = temperatures
        self.top_ps = top_ps
        self.generators = []
        for seed in seeds:
            gen = torch.Generator(device="cpu")
            gen.manual_seed(seed)
            self.generators.append(gen)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        out = scores.clone()
        for row, (temp, top_p, gen) in enumerate(zip(self.temperatures, self.top_ps, self.generators)):
            if temp <= 0:
                continue
            token = sample_token(scores[row], temp, top_p, gen)
            out[row] = float("-inf")
            out[row, token] = 0.0
        return out


class HFTeacher:
    """Local teacher: any causal LM transformers can load (default: the embedded SmolLM2-135M-Instruct).

    `messages` requests are rendered with the model's prompt format (the saved
    `prompt_format.json` of a seedtune-trained model, else its chat template, else Alpaca);
    `prompt` requests are sent as raw text. Stop strings = the format's end-of-turn strings plus
    each request's `stop`. `shortlist` is one of `SHORTLIST_MODES` (see `teachers/head.py`).
    """

    engine = "hf"

    def __init__(self, name_or_path: str = "smollm2-135m-instruct", batch_size: int = 8, dtype: str | None = None,
                 device: str | None = None, model: Any = None, tokenizer: Any = None, prompt_format: Any = None,
                 shortlist: str = "auto", batching: str = "continuous"):
        import torch

        if shortlist not in SHORTLIST_MODES:
            raise SeedtuneError(f"unknown shortlist mode {shortlist!r}", hint=f"use one of: {', '.join(SHORTLIST_MODES)}")
        if batching not in BATCHING_MODES:
            raise SeedtuneError(f"unknown batching mode {batching!r}", hint=f"use one of: {', '.join(BATCHING_MODES)}")

        directory = None
        if model is None:
            model, tokenizer, directory = load_model(name_or_path, dtype)
        elif tokenizer is None:
            raise SeedtuneError("HFTeacher got a model without its tokenizer", hint="pass tokenizer= too")
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device)
        self.model.eval()
        self.tokenizer = tokenizer
        self.batch_size = max(1, int(batch_size))
        if prompt_format is None:
            from seedtune.prompts import load_format
            from seedtune.prompts.formats import for_model

            prompt_format = (load_format(directory) if directory else None) or for_model(tokenizer)
        self.prompt_format = prompt_format
        fingerprint = model_fingerprint(directory)
        self.model_id = f"hf:{name_or_path}" + (f"@{fingerprint}" if fingerprint and Path(name_or_path).exists() else "")
        if dtype:  # answers differ between dtypes: keep their cache entries apart
            self.model_id += f"[{dtype}]"
        # The shortlist head (teachers/head.py) leaves greedy answers as the full head gives them,
        # so it does not enter model_id: cached answers stay valid with it on or off.
        self.shortlist = shortlist
        self._shortlist_head: Any = None  # made on the first greedy batch: a ShortlistHead, or False
        self.prompter = LocalPrompter(tokenizer, prompt_format, getattr(model.generation_config, "eos_token_id", None))
        self.pad_id = self.prompter.pad_id
        self.stats = {"engine": self.engine, "requests": 0, "batches": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self.batching = batching if batching == "static" else self._continuous_blocker() or "continuous"
        self.stats["batching"] = self.batching

    def _continuous_blocker(self) -> str | None:
        """Why continuous batching cannot stand in for `generate` on this model ("static (why)"), or None."""
        from seedtune.teachers.continuous import supported
        from seedtune.teachers.head import score_changer

        why = supported(self.model) or score_changer(self.model)
        return f"static ({why})" if why else None

    # -- rendering (shared with the llama.cpp engine, see teachers/local.py) ------------------------

    def render(self, request: Request) -> tuple[str, bool]:
        """(text, add_special_tokens): chat-rendered text already holds its BOS, raw prompts do not."""
        return self.prompter.render(request)

    def stops_for(self, request: Request) -> list[str]:
        return self.prompter.stops_for(request)

    def _eos_ids(self, stops: Sequence[str]) -> list[int]:
        return self.prompter.eos_ids(stops)

    # -- generation ----------------------------------------------------------------------------

    def generate(self, requests: Sequence[Request], on_result: OnResult | None = None) -> list[Completion]:
        """Answer every request in input order: continuously batched where the model allows, else
        rows sorted by prompt length into static batches (and always for `top_logprobs` requests).

        `on_result` hears of each request as soon as its last sample is decoded (write-through)."""
        rows = []  # one row per sampled sequence: (request index, sample index, ids)
        prompt_tokens: list[int] = []
        for index, request in enumerate(requests):
            ids = self.prompter.encode(request)
            prompt_tokens.append(len(ids))
            for sample in range(max(1, request.n)):
                rows.append((index, sample, ids))
        texts: dict[tuple[int, int], Sample] = {}
        pending = [max(1, r.n) for r in requests]  # samples still to decode, per request
        out: list[Completion | None] = [None] * len(requests)

        def finish(index: int, sample: int, result: Sample) -> None:
            texts[(index, sample)] = result
            pending[index] -= 1
            if not pending[index]:
                samples = [texts[(index, s)] for s in range(max(1, requests[index].n))]
                out[index] = completion_of(requests[index], self.model_id, prompt_tokens[index], samples)
                if on_result is not None:
                    on_result(index, out[index])

        continuous = self.batching == "continuous"
        self._generate_static(requests, [r for r in rows if not continuous or requests[r[0]].top_logprobs], finish)
        if continuous:
            self._generate_continuous(requests, [r for r in rows if not requests[r[0]].top_logprobs], finish)
        done = [c for c in out if c is not None]
        count_usage(self.stats, requests, prompt_tokens, done)
        return done

    def _generate_static(self, requests: Sequence[Request], rows: list[tuple[int, int, list[int]]],
                         finish: Callable[[int, int, Sample], None]) -> None:
        """transformers' `generate` per batch of rows with the same stop set, max_tokens and
        top_logprobs and similar prompt lengths."""
        def group(index: int) -> tuple[list[str], int, int]:
            request = requests[index]
            return self.stops_for(request), request.max_tokens, request.top_logprobs

        rows = sorted(rows, key=lambda r: (group(r[0]), len(r[2])))
        start = 0
        while start < len(rows):
            group_key = group(rows[start][0])
            end = start
            while end < len(rows) and end - start < self.batch_size and group(rows[end][0]) == group_key:
                end += 1
            batch = rows[start:end]
            results = self._generate_batch([requests[r[0]] for r in batch], [r[1] for r in batch], [r[2] for r in batch])
            for (index, sample, _), result in zip(batch, results):
                finish(index, sample, result)
            start = end

    def _generate_continuous(self, requests: Sequence[Request], rows: list[tuple[int, int, list[int]]],
                             finish: Callable[[int, int, Sample], None]) -> None:
        """Continuous batching (teachers/continuous.py): greedy rows first, on the shortlist head
        where it is exact, then sampled rows, each with its own seeded generator."""
        import torch

        stops = {index: self.stops_for(requests[index]) for index, _, _ in rows}
        made = []
        for index, sample, ids in rows:
            request = requests[index]
            eos = self._eos_ids(stops[index])
            generator = None
            if request.temperature > 0:
                generator = torch.Generator(device="cpu")
                generator.manual_seed(row_seed(request, sample))
            made.append(Row(key=(index, sample), ids=ids, max_tokens=request.max_tokens, eos=frozenset(eos),
                            text_stops=tuple(self.prompter.text_stops(stops[index], eos)),
                            temperature=request.temperature, top_p=request.top_p, generator=generator))

        def done(row: Row) -> None:
            finish(*row.key, (*self.prompter.answer(row.tokens, row.eos, stops[row.key[0]]), None))

        def decode(tokens: list[int]) -> str:
            return self.tokenizer.decode(tokens, skip_special_tokens=True)

        for sampled in (False, True):
            part = [row for row in made if (row.temperature > 0) == sampled]
            if not part:
                continue
            with self._head_for([requests[row.key[0]] for row in part]):
                self.stats["batches"] += generate_rows(self.model, part, batch_size=self.batch_size, pad_id=self.pad_id,
                                                       device=self.device, decode=decode, on_done=done)

    def _generation_kwargs(self, requests: Sequence[Request], samples: Sequence[int], stops: list[str]) -> dict[str, Any]:
        from transformers import GenerationConfig, LogitsProcessorList

        eos_ids = self._eos_ids(stops)
        text_stops = self.prompter.text_stops(stops, eos_ids)
        config = GenerationConfig(max_new_tokens=requests[0].max_tokens, do_sample=False, num_beams=1,
                                  pad_token_id=self.pad_id, eos_token_id=eos_ids or None,
                                  stop_strings=text_stops or None, return_dict_in_generate=True,
                                  output_logits=bool(requests[0].top_logprobs))
        kwargs: dict[str, Any] = {"generation_config": config}
        if text_stops:
            kwargs["tokenizer"] = self.tokenizer
        if any(r.temperature > 0 for r in requests):
            sampler = _RowSampler([r.temperature for r in requests], [r.top_p for r in requests],
                                  [row_seed(r, s) for r, s in zip(requests, samples)])
            kwargs["logits_processor"] = LogitsProcessorList([sampler])
        return kwargs

    def _left_pad(self, id_lists: Sequence[list[int]]) -> tuple[Any, Any]:
        return left_pad_ids(id_lists, self.pad_id, self.device)

    def _generate_batch(self, requests: Sequence[Request], samples: Sequence[int],
                        id_lists: Sequence[list[int]]) -> list[tuple[str, str, int, dict[str, float] | None]]:
        """One padded forward batch -> [(text, finish_reason, completion tokens, top logprobs)] per row."""
        import torch

        stops = self.stops_for(requests[0])
        kwargs = self._generation_kwargs(requests, samples, stops)
        eos_ids = set(kwargs["generation_config"].eos_token_id or [])
        input_ids, attention = self._left_pad(id_lists)
        top_k = requests[0].top_logprobs
        with torch.inference_mode(), self._head_for(requests):
            output = self.model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        self.stats["batches"] += 1
        generated = output.sequences[:, input_ids.shape[1]:].tolist()
        tops: list[dict[str, float] | None] = [None] * len(generated)
        if top_k:
            tops = self._top_logprobs(output.logits[0], top_k)
        return [(*self.prompter.answer(row, eos_ids, stops), top) for row, top in zip(generated, tops)]

    def _head_for(self, requests: Sequence[Request]) -> ContextManager[None]:
        """The exact shortlist head for a batch whose answers it cannot change (every row greedy,
        no logprobs read), else nothing: sampling and logprob requests keep the full head."""
        if self.shortlist == "off" or any(r.temperature > 0 or r.top_logprobs for r in requests):
            return nullcontext()
        from seedtune.teachers.head import ShortlistHead, installed, output_head, shortlist_blocker

        if self._shortlist_head is None:  # decided once: the model and the device do not change
            blocker = shortlist_blocker(self.model, force=self.shortlist == "force")
            self._shortlist_head = ShortlistHead(output_head(self.model)) if blocker is None else False
            self.stats["head"] = "shortlist" if blocker is None else f"full ({blocker})"
        return installed(self.model, self._shortlist_head) if self._shortlist_head else nullcontext()

    def _top_logprobs(self, logits: Any, k: int) -> list[dict[str, float]]:
        """The k most likely first tokens per row, from the raw (unprocessed) logits; tokens that
        decode to the same text ('A' and its byte-level twin) are merged by adding probabilities."""
        import torch

        logprobs = torch.log_softmax(logits.float(), dim=-1)
        values, ids = logprobs.topk(min(k, logprobs.shape[-1]), dim=-1)
        return [self.prompter.merge_top(v, i) for v, i in zip(values.tolist(), ids.tolist())]

    # -- streaming -----------------------------------------------------------------------------

    def stream(self, request: Request) -> Iterator[str]:
        """Yield the answer to one request piece by piece (for chat and serve); stops are cut off.

        Text that could be the start of a stop string is held back until it is known not to be.
        """
        from transformers import TextIteratorStreamer

        ids = self.prompter.encode(request)
        stops = self.stops_for(request)
        kwargs = self._generation_kwargs([request], [0], stops)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        input_ids, attention = self._left_pad([ids])
        errors: list[BaseException] = []

        def run() -> None:
            import torch

            try:
                with torch.inference_mode():
                    self.model.generate(input_ids=input_ids, attention_mask=attention, streamer=streamer, **kwargs)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        buffer = ""
        hold = max((len(s) for s in stops), default=1) - 1
        stopped = False
        for piece in streamer:
            if stopped:
                continue  # drain so the generation thread can finish
            buffer += piece
            cut, hit = trim_at_stop(buffer, stops)
            if hit:
                if cut:
                    yield cut
                buffer, stopped = "", True
                continue
            safe = max(0, len(buffer) - hold)
            # Hold back only a suffix that is a prefix of some stop string.
            while safe < len(buffer) and not any(s.startswith(buffer[safe:]) for s in stops):
                safe += 1
            if safe > 0:
                yield buffer[:safe]
                buffer = buffer[safe:]
        thread.join()
        if errors:
            raise errors[0]
        if buffer and not stopped:
            yield buffer
