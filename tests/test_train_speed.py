"""The speedups change how a step is computed, never what: loss and gradients with and without agree."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from seedtune.train import speed


def test_segment_lengths_restart_at_position_zero():
    pos = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5], [3, 4, 0, 1, 0, 1]])
    assert speed.segment_lengths(pos) == [[3, 2, 1], [6], [2, 2, 2]]


@pytest.mark.parametrize("n,window", [(5, None), (400, None), (600, None), (40, 16)])
def test_causal_attention_matches_sdpa(n, window):
    """Short samples (two matmuls), long ones (flash kernel) and local layers, against a dense mask."""
    g = torch.Generator().manual_seed(n)
    q, k, v = (torch.randn(h, n, 8, generator=g) for h in (6, 2, 2))
    i = torch.arange(n)
    mask = i[:, None] >= i[None, :]
    if window:
        mask &= (i[:, None] - i[None, :]) < window
    ref = F.scaled_dot_product_attention(q[None], k.repeat_interleave(3, 0)[None], v.repeat_interleave(3, 0)[None],
                                         attn_mask=mask, scale=0.3)[0].transpose(0, 1)
    out = speed.causal_attention(q, k, v, 0.3, window=window)
    assert torch.allclose(out, ref, atol=1e-5)


def _lora(tokenizer, arch: str):
    from seedtune.testing import tiny_model
    from seedtune.train.modeling import add_lora

    model = add_lora(tiny_model(tokenizer, arch=arch), 4, 8.0, 0.0, "all-linear")
    g = torch.Generator().manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would hide a wrong B gradient or scaling
            p.data = torch.randn(p.shape, generator=g) * 0.1
    return model


def _packed_batch():
    """Two rows: three samples + padding, and two samples; labels off on each sample's first tokens."""
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 400, (2, 24), generator=g)
    pos = torch.tensor([list(range(9)) + list(range(10)) + list(range(3)) + [0, 1],
                        list(range(14)) + list(range(10))])
    labels = ids.clone()
    labels[pos < 2] = -100
    labels[0, 22:] = -100
    return ids, pos, labels


@pytest.mark.parametrize("arch", ["llama", "gemma"])
def test_speedups_keep_loss_and_gradients(tiny_tokenizer, arch):
    from seedtune.train.modeling import SFTModule

    plain = _lora(tiny_tokenizer, arch)
    fast = copy.deepcopy(plain)
    speed.use_segment_attention(fast.get_base_model())
    assert speed.fuse_lora(fast) == 14  # 7 linears x 2 layers
    batch = _packed_batch()
    results = []
    for model in (plain, fast):
        loss = SFTModule(model)(*batch)
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (l0, g0), (l1, g1) = results
    assert torch.allclose(l0, l1, rtol=1e-5)
    assert g0.keys() == g1.keys() and len(g0) == 28
    for name in g0:
        assert torch.allclose(g0[name], g1[name], rtol=1e-4, atol=1e-6), name
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 rounding only
        assert float(SFTModule(fast)(*batch)) == pytest.approx(float(l0), rel=2e-2)


def test_fused_lora_steps_aside_when_adapter_is_disabled(tiny_tokenizer):
    """DPO's reference is the adapter disabled: the fused forward must then be the base model."""
    from seedtune.train.modeling import SFTModule

    fast = _lora(tiny_tokenizer, "llama")
    speed.fuse_lora(fast)
    base = copy.deepcopy(fast.get_base_model())
    batch = _packed_batch()
    with fast.disable_adapter():
        off = SFTModule(fast)(*batch)
    for module in base.modules():  # strip the adapters from the copy by hand
        if hasattr(module, "lora_B"):
            for b in module.lora_B.values():
                b.weight.data.zero_()
    assert torch.allclose(off, SFTModule(base)(*batch), rtol=1e-6)
    assert not torch.allclose(off, SFTModule(fast)(*batch), rtol=1e-3)


def test_segment_attention_falls_back_with_a_padding_mask(tiny_tokenizer):
    """Generation passes a padding mask: that path is transformers' SDPA, unchanged."""
    from seedtune.testing import tiny_model

    plain = tiny_model(tiny_tokenizer)
    fast = copy.deepcopy(plain)
    speed.use_segment_attention(fast)
    ids = torch.randint(5, 400, (2, 10))
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    with torch.no_grad():
        a = plain(input_ids=ids, attention_mask=mask).logits
        b = fast(input_ids=ids, attention_mask=mask).logits
    assert torch.allclose(a, b, atol=1e-5)
    speed.use_segment_attention(fast, False)
    assert fast.config._attn_implementation == "sdpa"


def test_fused_adamw_steps_like_the_loop():
    g = torch.Generator().manual_seed(3)
    params = [torch.nn.Parameter(torch.randn(5, 3, generator=g)) for _ in range(2)]
    twins = [torch.nn.Parameter(p.detach().clone()) for p in params]
    grads = [torch.randn(5, 3, generator=g) for _ in params]
    for ps, fused in ((params, True), (twins, False)):
        opt = speed.adamw(ps, fused=fused, lr=0.1, weight_decay=0.01)
        for _ in range(3):
            for p, gr in zip(ps, grads):
                p.grad = gr.clone()
            opt.step()
    for a, b in zip(params, twins):
        assert torch.allclose(a, b, atol=1e-6)


def test_sibling_projections_run_as_one_group(tiny_tokenizer, monkeypatch):
    """q/k/v and gate/up share one matmul per layer; a sibling called alone still answers alone."""
    from seedtune.train.modeling import SFTModule

    fast = _lora(tiny_tokenizer, "llama")
    speed.fuse_lora(fast)
    attn = fast.get_base_model().model.layers[0].self_attn
    assert [m.seedtune_group_index for m in (attn.q_proj, attn.k_proj, attn.v_proj)] == [0, 1, 2]
    assert attn.q_proj.seedtune_group is attn.v_proj.seedtune_group
    calls = []
    real = speed._GroupLoRA.apply
    monkeypatch.setattr(speed._GroupLoRA, "apply", lambda *a: calls.append(1) or real(*a))
    SFTModule(fast)(*_packed_batch())
    assert len(calls) == 4  # (qkv, gate/up) x 2 layers
    x = torch.randn(3, attn.k_proj.in_features)
    attn.q_proj(x)  # leaves k and v waiting for this x
    other = torch.randn(3, attn.k_proj.in_features)
    alone = attn.k_proj(other)
    base, name = attn.k_proj.base_layer, attn.k_proj.active_adapters[0]
    expected = base(other) + attn.k_proj.lora_B[name](attn.k_proj.lora_A[name](other)) * attn.k_proj.scaling[name]
    assert torch.allclose(alone, expected, atol=1e-5)
    assert torch.allclose(attn.v_proj(x), attn.v_proj.base_layer(x) + attn.v_proj.lora_B[name](
        attn.v_proj.lora_A[name](x)) * attn.v_proj.scaling[name], atol=1e-5)


@pytest.mark.parametrize("window", [None, 50])
def test_bucketed_segments_match_a_block_diagonal_mask(window):
    """Samples of several buckets, one past the flash threshold, grouped query heads: outputs and
    gradients equal dense SDPA with each sample's causal (and local) mask. Buckets of 128 tokens
    or more split their queries in two (131: uneven halves, 256 and 128: even ones)."""
    lengths = [[5, 70, 131, 3], [600, 8], [256, 128, 1]]  # 600: past the flash threshold
    width = 608
    rows = [ls + [width - sum(ls)] if sum(ls) < width else ls for ls in lengths]
    pos = torch.tensor([[i for n in r for i in range(n)] for r in rows])
    g = torch.Generator().manual_seed(4)
    q = torch.randn(3, 6, width, 8, generator=g, requires_grad=True)
    k = torch.randn(3, 2, width, 8, generator=g, requires_grad=True)
    v = torch.randn(3, 2, width, 8, generator=g, requires_grad=True)
    out, _ = speed.segment_attention(None, q, k, v, None, scaling=0.3, position_ids=pos, sliding_window=window)
    seg = torch.stack([torch.repeat_interleave(torch.arange(len(r)), torch.tensor(r)) for r in rows])
    i = torch.arange(width)
    mask = (seg[:, :, None] == seg[:, None, :]) & (i[:, None] >= i[None, :])
    if window:
        mask &= (i[:, None] - i[None, :]) < window
    ref = F.scaled_dot_product_attention(q, k.repeat_interleave(3, 1), v.repeat_interleave(3, 1), attn_mask=mask[:, None],
                                         scale=0.3).transpose(1, 2)
    assert torch.allclose(out, ref, atol=1e-5)
    w = torch.randn(ref.shape, generator=g)
    grads = torch.autograd.grad((out * w).sum(), (q, k, v))
    refs = torch.autograd.grad((ref * w).sum(), (q, k, v))
    for a, b in zip(grads, refs):
        assert torch.allclose(a, b, atol=1e-5)


def _mallinfo():
    """glibc's malloc statistics (mallinfo2): hblkhd, bytes in mmapped blocks; fordblks, free heap bytes."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                         "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = speed._glibc()
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2()


@pytest.mark.skipif(speed._glibc() is None, reason="the allocator setting is glibc's")
def test_large_blocks_come_from_the_reused_heap_while_training():
    def mmapped_growth() -> tuple[int, int]:
        # larger than any free heap chunk (earlier tests leave some) and any mmap threshold glibc picks (32 MB)
        size = _mallinfo().fordblks + (48 << 20)
        before = _mallinfo().hblkhd
        block = torch.empty(size, dtype=torch.uint8)  # never written: no page is touched
        grown = _mallinfo().hblkhd - before
        del block
        return grown, size

    with speed.reuse_freed_memory() as active:
        assert active
        grown, size = mmapped_growth()
        assert grown < size  # from the heap, not a fresh mmap
    grown, size = mmapped_growth()
    assert grown >= size  # the defaults are back: a large block is mmapped again
    with speed.reuse_freed_memory(False) as active:
        assert not active
