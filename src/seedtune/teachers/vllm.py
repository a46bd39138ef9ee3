"""vLLM's offline engine as a teacher (GPU machines): imported only when a `vllm:` teacher is named.

vLLM schedules its own continuous batches, so `generate` hands it every request at once; chat
requests go through its `chat` entry (the model's template), raw prompts through `generate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seedtune.errors import SeedtuneError
from seedtune.teachers.base import Completion, Request


class VLLMTeacher:
    def __init__(self, name_or_path: str, dtype: str | None = None, **engine_kw: Any):
        try:
            import vllm
        except ImportError as exc:
            raise SeedtuneError("the vllm: teacher needs the vllm package, which is not installed",
                                hint="pip install 'seedtune[gpu]' on a CUDA machine, or use hf:NAME on CPU") from exc
        from seedtune.models import resolve_model
        from seedtune.models.loading import require_safetensors

        directory = resolve_model(name_or_path)
        require_safetensors(directory)  # the same rule as every other loader: weights are never unpickled
        path = str(directory)
        self._vllm = vllm
        self.llm = vllm.LLM(model=path, dtype=dtype or "auto", **engine_kw)
        self.model_id = f"vllm:{name_or_path}"

    def _params(self, request: Request) -> Any:
        return self._vllm.SamplingParams(n=max(1, request.n), temperature=request.temperature, top_p=request.top_p,
                                         max_tokens=request.max_tokens, seed=request.seed,
                                         stop=list(request.stop) or None, logprobs=request.top_logprobs or None)

    def generate(self, requests: Sequence[Request]) -> list[Completion]:
        out: list[Completion | None] = [None] * len(requests)
        chats = [i for i, r in enumerate(requests) if r.prompt is None]
        raws = [i for i, r in enumerate(requests) if r.prompt is not None]
        if chats:
            results = self.llm.chat([requests[i].message_dicts() for i in chats],
                                    [self._params(requests[i]) for i in chats], use_tqdm=False)
            for i, result in zip(chats, results):
                out[i] = self._completion(requests[i], result)
        if raws:
            results = self.llm.generate([requests[i].prompt for i in raws], [self._params(requests[i]) for i in raws],
                                        use_tqdm=False)
            for i, result in zip(raws, results):
                out[i] = self._completion(requests[i], result)
        return [c for c in out if c is not None]

    def _completion(self, request: Request, result: Any) -> Completion:
        return Completion(texts=[o.text for o in result.outputs], prompt_tokens=len(result.prompt_token_ids or []),
                          completion_tokens=sum(len(o.token_ids) for o in result.outputs),
                          finish_reasons=[o.finish_reason or "stop" for o in result.outputs],
                          key=request.key(self.model_id),
                          top_logprobs=[_first_position(o) for o in result.outputs] if request.top_logprobs else [])


def _first_position(output: Any) -> dict[str, float]:
    """{decoded token: logprob} at the first generated position of a vLLM output."""
    if not output.logprobs:
        return {}
    return {lp.decoded_token: float(lp.logprob) for lp in output.logprobs[0].values() if lp.decoded_token is not None}
