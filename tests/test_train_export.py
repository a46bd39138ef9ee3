"""GGUF export round trip: transformers loads the file back (gguf_file=) with the same logits."""

from __future__ import annotations

import pytest
import torch

TEXT = "Translate: I like apples. 我喜欢吃苹果。<|im_end|>"


def _roundtrip(model_dir, tmp_path, dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seedtune.train import export_gguf

    path = export_gguf(model_dir, tmp_path / f"model-{dtype}.gguf", dtype=dtype)
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=path.name, dtype=torch.float32).eval()
    ref = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok_back = AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    assert tok_back(TEXT)["input_ids"] == tok(TEXT)["input_ids"]
    ids = torch.tensor([tok(TEXT)["input_ids"]])
    with torch.no_grad():
        a, b = ref(ids).logits, back(ids).logits
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("dtype,tol", [("f32", 1e-6), ("f16", 2e-2), ("bf16", 5e-2)])
def test_llama_gguf_roundtrip(tmp_path, dtype, tol):
    from seedtune.testing import save_tiny_model

    model_dir = save_tiny_model(tmp_path / "llama")
    assert _roundtrip(model_dir, tmp_path, dtype) < tol


def test_gemma3_gguf_roundtrip(tmp_path):
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    from seedtune.testing import tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, head_dim=8,
                           num_attention_heads=4, num_key_value_heads=1, sliding_window=16,
                           max_position_embeddings=256, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                           pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():  # non-trivial norms, so a missing (1 + w) convention would show
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.uniform_(-0.5, 0.5)
    model.save_pretrained(tmp_path / "gemma3")
    tok.save_pretrained(tmp_path / "gemma3")
    assert _roundtrip(tmp_path / "gemma3", tmp_path, "f32") < 1e-5


def test_export_refuses_unknown_architecture(tmp_path):
    import json

    from seedtune.errors import SeedtuneError
    from seedtune.train import export_gguf

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(SeedtuneError, match="does not support"):
        export_gguf(tmp_path, tmp_path / "x.gguf")


def test_cli_export(tmp_path):
    from typer.testing import CliRunner

    from seedtune.cli import app
    from seedtune.testing import save_tiny_model

    model_dir = save_tiny_model(tmp_path / "m")
    r = CliRunner().invoke(app, ["export", str(model_dir), "--gguf", "bf16", "--output", str(tmp_path / "out.gguf")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out.gguf").stat().st_size > 1000
    assert "FROM ./out.gguf" in (tmp_path / "Modelfile").read_text()
    r = CliRunner().invoke(app, ["export", str(model_dir), "--gguf", "q8_0"])
    assert r.exit_code == 0, r.output
    assert (model_dir / "gguf" / "m-q8_0.gguf").exists() and (model_dir / "gguf" / "Modelfile").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma-3-270m"])
def test_real_model_gguf_roundtrip(tmp_path, name):
    """The embedded defaults (llama with byte-level BPE; gemma3 with SentencePiece) export and load back."""
    from seedtune.models import resolve_model

    assert _roundtrip(resolve_model(name), tmp_path, "bf16") < 2e-2


@pytest.mark.slow
def test_real_model_short_training(tmp_path):
    """Two LoRA steps on SmolLM2 through the whole recipe: checks pass, merged model loads."""
    import json

    from transformers import AutoModelForCausalLM

    from seedtune.data import seed_tasks_path
    from seedtune.train import TrainConfig, train

    res = train(TrainConfig(model="smollm2-135m-instruct", data=str(seed_tasks_path()), output=str(tmp_path / "o"),
                            max_steps=2, batch_size=2, max_length=256, tensorboard=False), progress=False)
    assert res.preflight["prompt_never_trained"] and res.preflight["end_token_trained"]
    assert res.preflight.get("self_check", {}).get("max_rel_diff", 1.0) < 2e-3
    assert AutoModelForCausalLM.from_pretrained(res.output) is not None
    assert json.loads((res.output / "metrics.json").read_text())["train_tokens"] > 0


@pytest.mark.parametrize("dtype,tol", [("q8_0", 3e-2), ("q4_0", 0.35)])
def test_quantized_gguf_roundtrip(tmp_path, dtype, tol):
    """Q8_0/Q4_0 files load back (transformers dequantizes them) close to the original logits."""
    import gguf

    from seedtune.testing import save_tiny_model

    model_dir = save_tiny_model(tmp_path / "llama")
    assert _roundtrip(model_dir, tmp_path, dtype) < tol
    reader = gguf.GGUFReader(tmp_path / f"model-{dtype}.gguf")
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == dtype.upper() and types["blk.0.attn_norm.weight"] == "F32"
    if dtype == "q4_0":
        assert types["token_embd.weight"] == "Q8_0"  # the embeddings keep 8 bits


def test_alpaca_model_gets_its_prompt_as_chat_template_and_modelfile(tmp_path):
    """A model trained with the Alpaca format carries it as the GGUF chat template (rendering the
    same prompt as training did) and its Modelfile spells it in Ollama's Go template syntax."""
    import gguf

    from seedtune.prompts.formats import AlpacaFormat, render_sandboxed, save_format
    from seedtune.records import Record
    from seedtune.testing import save_tiny_model
    from seedtune.train import export_for_ollama

    model_dir = save_tiny_model(tmp_path / "alpaca")
    fmt = AlpacaFormat(preamble="Do what's asked.")
    save_format(fmt, model_dir)
    path, modelfile = export_for_ollama(model_dir, "q8_0", tmp_path / "out")
    field = gguf.GGUFReader(path).fields["tokenizer.chat_template"]
    template = bytes(field.parts[field.data[0]]).decode()
    record = Record(instruction="Name a fruit.", output="Apple.", system="Be brief.")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a fruit."}]
    assert render_sandboxed(template, messages=messages, add_generation_prompt=True, eos_token="") == fmt.render_prompt(record)
    text = modelfile.read_text()
    assert f"FROM ./{path.name}" in text and "Do what's asked.\n\n### Instruction:\n{{ .Prompt }}\n\n### Response:\n\"\"\"" in text
    assert 'PARAMETER stop "### Instruction:"' in text


def test_export_refuses_unknown_type_and_foreign_modelfile(tmp_path):
    from seedtune.errors import SeedtuneError
    from seedtune.testing import save_tiny_model
    from seedtune.train import export_for_ollama

    model_dir = save_tiny_model(tmp_path / "m")
    with pytest.raises(SeedtuneError, match="q4_0"):
        export_for_ollama(model_dir, "q4_k_m", tmp_path / "o")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "Modelfile").write_text("FROM llama3\n")
    with pytest.raises(SeedtuneError, match="not written by seedtune"):
        export_for_ollama(model_dir, "f16", tmp_path / "mine")
    assert (tmp_path / "mine" / "Modelfile").read_text() == "FROM llama3\n"
