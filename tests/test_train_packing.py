"""Packing: best-fit decreasing is a valid packing, and packed samples never see each other."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seedtune.train.packing import best_fit_decreasing, collate, pack_rows
from seedtune.train.tokenize import build_example


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 64), max_size=80), cap=st.integers(64, 200))
def test_bfd_is_a_valid_packing(lengths, cap):
    bins = best_fit_decreasing(lengths, cap)
    flat = sorted(i for b in bins for i in b)
    assert flat == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in b) <= cap for b in bins)
    # Best fit never opens a bin while an item would fit in the combined free space of two bins
    # that are both less than half full (a weak but falsifiable quality bound).
    assert sum(1 for b in bins if sum(lengths[i] for i in b) <= cap // 2) <= 1


def test_rows_restart_positions_and_collate_pads_as_separate_segment():
    exs = [build_example([1, 2, 3], [4, 5], 9), build_example([1, 6], [7], 9), build_example([1], [8, 8, 8, 8], 9)]
    rows = pack_rows(exs, capacity=12)
    assert sum(r.n_samples for r in rows) == 3
    for r in rows:
        assert r.position_ids.count(0) == r.n_samples
    ids, pos, labels = collate(rows, pad_id=0)
    assert ids.shape == pos.shape == labels.shape
    short = min(range(len(rows)), key=lambda b: len(rows[b]))
    n = len(rows[short])
    if n < ids.shape[1]:
        assert pos[short, n] == 0 and (labels[short, n:] == -100).all()


def _packed_vs_alone(model, exs):
    from seedtune.train.modeling import SFTModule

    module = SFTModule(model)
    rows = pack_rows(exs, capacity=sum(len(e) for e in exs))
    assert len(rows) == 1
    ids, pos, _ = collate(rows, pad_id=0)
    with torch.no_grad():
        packed = module.hidden(ids, pos)[0]
        starts = [i for i, p in enumerate(pos[0].tolist()) if p == 0] + [ids.shape[1]]
        diffs = []
        for a, b in zip(starts, starts[1:]):
            alone = module.hidden(ids[:, a:b], pos[:, a:b])[0]
            diffs.append(float((packed[a:b] - alone).abs().max()))
    return max(diffs)


@pytest.mark.parametrize("arch", ["llama", "gemma"])
def test_packed_logits_equal_unpacked(tiny_tokenizer, arch):
    from seedtune.testing import tiny_model

    model = tiny_model(tiny_tokenizer, arch=arch)
    g = torch.Generator().manual_seed(0)
    exs = [build_example(torch.randint(5, 500, (n,), generator=g).tolist(), [11, 12, 13], 2) for n in (7, 19, 4, 30)]
    assert _packed_vs_alone(model, exs) < 1e-5


def test_gemma3_packing_isolated():
    from transformers import AutoModelForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2, head_dim=8,
                           num_attention_heads=4, num_key_value_heads=1, sliding_window=16, max_position_embeddings=256)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    exs = [build_example(list(range(5, 5 + n)), [11, 12], 1) for n in (25, 9, 40)]
    assert _packed_vs_alone(model, exs) < 1e-5


def test_self_check_refuses_leaking_attention(tiny_tokenizer, monkeypatch):
    """If samples could attend to each other (e.g. an all-ones mask), the start-up check must refuse."""
    from seedtune.errors import SeedtuneError
    from seedtune.testing import tiny_model
    from seedtune.train.modeling import SFTModule, causal_lm_of, self_check_packing

    module = SFTModule(tiny_model(tiny_tokenizer))
    exs = [build_example([1, 20, 30, 40], [50, 60], 2), build_example([1, 70, 80], [90], 2)]
    rows = pack_rows(exs, capacity=64)
    assert self_check_packing(module, rows, pad_id=0)["max_rel_diff"] < 1e-5

    def leaky(self, input_ids, position_ids):
        mask = torch.ones_like(input_ids)  # a padding mask disables the packed-sequence detection
        return causal_lm_of(self.model).get_decoder()(input_ids=input_ids, attention_mask=mask, use_cache=False).last_hidden_state

    monkeypatch.setattr(SFTModule, "hidden", leaky)
    with pytest.raises(SeedtuneError, match="packing self-check failed"):
        self_check_packing(module, rows, pad_id=0)
