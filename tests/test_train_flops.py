"""The trainer counts the model FLOPs it does: the numerator of the bench's MFU."""

from __future__ import annotations

import pytest

from seedtune.train import flops


def test_attention_pairs_are_causal_and_per_sample():
    # samples of 3 and 2 tokens: 1+2+3 and 1+2 pairs; a packed row is not charged 5*6/2 = 15.
    assert flops.attention_pairs([0, 1, 2, 0, 1]) == 9
    assert flops.attention_pairs([0, 1, 2, 3]) == 10
    assert flops.attention_pairs([]) == 0


def test_step_flops_counts_linears_attention_and_head():
    shape = flops.Shape(decoder_params=1000, hidden=8, vocab=50, layers=2, attention_width=8)
    lora = flops.step_flops(shape, tokens=10, trained=4, pairs=30, full=False)
    assert lora == 4 * 1000 * 10 + 12 * 8 * 2 * 30 + 4 * 8 * 50 * 4
    full = flops.step_flops(shape, tokens=10, trained=4, pairs=30, full=True)
    assert full == 6 * 1000 * 10 + 12 * 8 * 2 * 30 + 6 * 8 * 50 * 4


def test_shape_of_a_lora_model_leaves_out_adapters_embedding_and_head(tiny_tokenizer):
    from seedtune.testing import tiny_model
    from seedtune.train.modeling import add_lora

    model = tiny_model(tiny_tokenizer)
    plain = flops.Shape.of(model)
    wrapped = flops.Shape.of(add_lora(model, 4, 8.0, 0.0, "all-linear"))
    assert plain == wrapped
    config = model.config
    layers = sum(p.numel() for n, p in model.named_parameters() if ".layers." in n and "lora_" not in n)
    assert plain.decoder_params == layers > 0
    assert (plain.hidden, plain.vocab, plain.layers) == (config.hidden_size, config.vocab_size, config.num_hidden_layers)


@pytest.mark.parametrize("full", [False, True])
def test_train_metrics_report_the_steps_model_flops(tmp_path, tiny_model_dir, monkeypatch, full):
    """metrics.model_flops sums each step's FLOPs, counted from the rows that step trained on."""
    import json
    import random

    from seedtune.train import TrainConfig, train

    rng = random.Random(0)
    words = "the quick brown fox jumps over a lazy dog".split()
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": " ".join(rng.choices(words, k=6)),
                                        "output": " ".join(rng.choices(words, k=8))}) + "\n" for _ in range(12)))
    seen = []
    real = flops.step_flops
    monkeypatch.setattr(flops, "step_flops", lambda *a: seen.append(a) or real(*a))
    cfg = TrainConfig(model=str(tiny_model_dir), data=str(data), output=str(tmp_path / "out"), max_steps=3,
                      batch_size=2, max_length=64, eval_fraction=0.0, tensorboard=False, full=full, lora_r=4)
    m = train(cfg, progress=False, log=lambda _m: None).metrics
    assert len(seen) == 3
    assert m["model_flops"] == pytest.approx(sum(real(*a) for a in seen)) and m["model_tflops_per_second"] > 0
    shape, tokens, trained, pairs, was_full = seen[0]
    assert was_full is full and shape.decoder_params > 0
    assert sum(a[1] for a in seen) == m["train_tokens"]
    assert 0 < trained < tokens and tokens <= pairs <= tokens * 64
