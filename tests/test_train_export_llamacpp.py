"""GGUF files that llama.cpp itself runs: greedy tokens from llama.cpp (llama-cpp-python) match
transformers' on a merged model - the same for f16; for Q8_0 at least 90% of llama.cpp's next-token
choices agree along transformers' greedy continuation (free-running greedy text diverges for good
after the first near-tie, so position-wise agreement of two free runs would measure luck).

llama-cpp-python compiles llama.cpp when pip installs it (`pip install 'seedtune[llamacpp]'`);
without it this test is skipped and says so.
"""

from __future__ import annotations

import pytest
import torch

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install 'seedtune[llamacpp]'; it compiles llama.cpp)")

PROMPTS = ["Translate to French: I like apples.", "Name three colours.", "What is the capital of France?"]
NEW_TOKENS = 16


@pytest.fixture(scope="module")
def merged_model(tmp_path_factory):
    """SmolLM2 after two LoRA steps, merged: the kind of directory `seedtune export` gets."""
    from seedtune.data import seed_tasks_path
    from seedtune.train import TrainConfig, train

    out = tmp_path_factory.mktemp("merged") / "model"
    train(TrainConfig(model="smollm2-135m-instruct", data=str(seed_tasks_path()), output=str(out), max_steps=1,
                      batch_size=1, max_length=128, tensorboard=False, eval_fraction=0.0), progress=False)
    return out


def _greedy_transformers(model_dir, prompts_ids):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    outs = []
    for ids in prompts_ids:
        with torch.no_grad():
            gen = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False,
                                 eos_token_id=None, pad_token_id=0)
        outs.append(gen[0, len(ids):].tolist())
    return outs


def _greedy_llamacpp(path, prompts_ids):
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False)
    outs = []
    for ids in prompts_ids:
        llm.reset()
        got = []
        for tok in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True):
            got.append(tok)
            if len(got) == NEW_TOKENS:
                break
        outs.append(got)
    return outs, llm


def _forced_agreement(path, prompts_ids, reference) -> float:
    """Share of positions where llama.cpp's top token, given transformers' greedy prefix, is
    transformers' next token."""
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False, logits_all=True)
    same = total = 0
    for ids, ref in zip(prompts_ids, reference):
        llm.reset()
        llm.eval(ids + ref[:-1])
        for k, want in enumerate(ref):
            same += int(llm.scores[len(ids) - 1 + k].argmax() == want)
            total += 1
    return same / total


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_llamacpp_greedy_tokens_match_transformers(merged_model, tmp_path):
    from transformers import AutoTokenizer

    from seedtune.prompts.formats import load_format
    from seedtune.records import Record
    from seedtune.train import export_for_ollama

    fmt = load_format(merged_model)
    tok = AutoTokenizer.from_pretrained(merged_model)
    texts = [fmt.render_prompt(Record(instruction=p, output="")) for p in PROMPTS]
    prompts_ids = [tok(t, add_special_tokens=True)["input_ids"] for t in texts]
    reference = _greedy_transformers(merged_model, prompts_ids)

    f16, _ = export_for_ollama(merged_model, "f16", tmp_path / "f16")
    got, llm = _greedy_llamacpp(f16, prompts_ids)
    # llama.cpp tokenizes the prompt the way transformers does, and carries the template we trained with.
    assert [llm.tokenize(t.encode(), add_bos=False, special=True) for t in texts] == \
        [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert llm.metadata["tokenizer.chat_template"] == fmt.chat_template()
    assert got == reference

    q8, _ = export_for_ollama(merged_model, "q8_0", tmp_path / "q8")
    assert _forced_agreement(q8, prompts_ids, reference) >= 0.9
