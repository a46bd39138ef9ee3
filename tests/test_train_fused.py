"""The fused norm, gated activation and rotary compute what transformers' modules compute: outputs
and gradients against the originals, op by op and for a whole tiny-model step."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers.activations import ACT2FN
from transformers.models.gemma3.modeling_gemma3 import Gemma3RMSNorm
from transformers.models.llama.modeling_llama import LlamaRMSNorm, apply_rotary_pos_emb

from seedtune.train import fused

# (rtol, atol) per dtype: fp32 is rounding only; bf16 rounds every stored activation (~4e-3 relative)
TOL = {torch.float32: (1e-5, 1e-5), torch.bfloat16: (2e-2, 2e-2)}


def _grads(fn, inputs, seed=0):
    """Outputs of fn(*inputs) and the gradients of those inputs that require one, for a random
    output gradient."""
    outs = fn(*inputs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(o.shape, generator=g).to(o.dtype) for o in outs]
    grads = torch.autograd.grad(outs, [t for t in inputs if t.requires_grad], weights)
    return [o.detach() for o in outs] + list(grads)


def _close(got, want, dtype):
    rtol, atol = TOL[dtype]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        scale = b.float().abs().max().clamp_min(1.0)
        assert torch.allclose(a.float() / scale, b.float() / scale, rtol=rtol, atol=atol), float((a - b).abs().max())


@pytest.mark.parametrize("cls", [LlamaRMSNorm, Gemma3RMSNorm])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("train_weight", [False, True])
def test_rms_norm_matches_transformers(cls, dtype, train_weight):
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(3, 7, 48, generator=g) * 3).to(dtype)
    # a [B, L, H] row, and the transposed per-head view of Gemma-3's q/k norms
    for inp in (x, x.view(3, 7, 4, 12).transpose(1, 2)):
        norm = cls(inp.shape[-1], eps=1e-6).to(dtype)
        norm.weight.data = torch.randn(inp.shape[-1], generator=g).to(dtype)  # Gemma starts at 0, Llama at 1
        norm.weight.requires_grad_(train_weight)
        fast = copy.deepcopy(norm)
        assert fused.use_fused_layers(fast) == 1
        inp = inp.requires_grad_()
        want = _grads(lambda t, w: norm(t), [inp, norm.weight])
        _close(_grads(lambda t, w: fast(t), [inp, fast.weight]), want, dtype)


@pytest.mark.parametrize("act,kind", [("silu", "silu"), ("gelu_pytorch_tanh", "gelu_tanh")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gated_activation_matches_act_times_up(act, kind, dtype):
    g = torch.Generator().manual_seed(6)
    gate, up = ((torch.randn(4, 9, 40, generator=g) * 2).to(dtype).requires_grad_() for _ in range(2))
    want = _grads(lambda a, b: ACT2FN[act](a) * b, [gate, up])
    _close(_grads(lambda a, b: fused.gated_act(a, b, kind), [gate, up]), want, dtype)
    assert fused._activation(ACT2FN[act]) == kind


@pytest.mark.parametrize("dtypes", [(torch.float32, torch.float32), (torch.bfloat16, torch.bfloat16),
                                    (torch.bfloat16, torch.float32)])  # last: full fine-tuning's bf16 q, fp32 cos
def test_rotary_matches_apply_rotary_pos_emb(dtypes):
    qk_dtype, cs_dtype = dtypes
    g = torch.Generator().manual_seed(7)
    b, length, d = 2, 11, 16
    # q and k as transformers makes them: [B, L, H*D] projections viewed as [B, H, L, D]
    q = torch.randn(b, length, 6 * d, generator=g).to(qk_dtype).view(b, length, 6, d).transpose(1, 2).requires_grad_()
    k = torch.randn(b, length, 2 * d, generator=g).to(qk_dtype).view(b, length, 2, d).transpose(1, 2).requires_grad_()
    angles = torch.randn(b, length, d // 2, generator=g) * 3
    cos, sin = (torch.cat([f(angles)] * 2, -1).to(cs_dtype) for f in (torch.cos, torch.sin))
    want = _grads(lambda a, c: apply_rotary_pos_emb(a, c, cos, sin), [q, k])
    got = _grads(lambda a, c: fused.rotary(a, c, cos, sin), [q, k])
    _close(got, want, qk_dtype)


def _model(tokenizer, arch: str):
    from seedtune.testing import tiny_model

    model = tiny_model(tokenizer, arch=arch)
    g = torch.Generator().manual_seed(8)
    for name, p in model.named_parameters():
        if "norm" in name:  # off their 0 / 1 start, so a wrong (1 + w) or w would show
            p.data = torch.randn(p.shape, generator=g) * 0.5 + 0.5
    return model


# modules switched per arch: norms (2 or 6 a layer + the final), the MLPs, the attentions (2 layers)
MODULES = {"llama": 2 * 2 + 1 + 2 + 2, "gemma": 2 * 2 + 1 + 2 + 2, "gemma3": 2 * 6 + 1 + 2 + 2}


@pytest.mark.parametrize("arch", ["llama", "gemma", "gemma3"])
@pytest.mark.parametrize("lora", [False, True])
def test_whole_step_keeps_loss_and_gradients(tiny_tokenizer, arch, lora):
    """Full fine-tuning of a tiny model (every gradient reaches the norms' weights too) and LoRA
    (the gated activation's in-place backward into the gate/up group), with the other speedups on in
    both runs: only the fused layers differ."""
    from seedtune.train import speed
    from seedtune.train.modeling import SFTModule, add_lora

    plain = _model(tiny_tokenizer, arch).train()
    if lora:
        plain = add_lora(plain, 4, 8.0, 0.0, "all-linear")
        for name, p in plain.named_parameters():
            if "lora_B" in name:  # peft starts B at zero, which would hide a wrong B gradient
                p.data = torch.randn(p.shape, generator=torch.Generator().manual_seed(10)) * 0.1
    speed.use_segment_attention(plain.get_base_model() if lora else plain)
    fast = copy.deepcopy(plain)
    if lora:
        speed.fuse_lora(plain)
        speed.fuse_lora(fast)
    assert fused.use_fused_layers(fast) == MODULES[arch]
    g = torch.Generator().manual_seed(9)
    ids = torch.randint(5, 400, (2, 40), generator=g)
    pos = torch.tensor([list(range(25)) + list(range(15)), list(range(40))])  # 25 > the 16-token window
    labels = ids.clone()
    labels[pos < 2] = -100
    results = []
    for model in (plain, fast):
        loss = SFTModule(model)(ids, pos, labels)
        loss.backward()
        results.append((loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}))
    (l0, g0), (l1, g1) = results
    assert torch.allclose(l0, l1, rtol=1e-5)
    assert g0.keys() == g1.keys() and any(("lora" if lora else "norm") in n for n in g0)
    for name in g0:  # fp32 rounding, grown through the layers: within 1e-4 of each tensor's largest entry
        assert (g0[name] - g1[name]).abs().max() <= 1e-4 * g0[name].abs().max(), name
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 rounding only
        assert float(SFTModule(fast)(ids, pos, labels)) == pytest.approx(float(l0), rel=2e-2)


def test_gated_backward_writes_into_its_inputs_once():
    """Intermediate gate/up get their own gradients written into them (side by side in one buffer,
    read back without a copy); a second backward through the graph fails instead of reading them."""
    from seedtune.train.speed import _side_by_side

    class Halves(torch.autograd.Function):  # two column blocks of one buffer, as speed._GroupLoRA returns
        @staticmethod
        def forward(ctx, x):
            return tuple((x * 2).split([4, 4], 1))

        @staticmethod
        def backward(ctx, *grads):
            return torch.cat(grads, 1) * 2

    gate, up = Halves.apply(torch.randn(6, 8, requires_grad=True))
    out = fused.gated_act(gate, up, "silu")
    want = _grads(lambda a, b: torch.nn.functional.silu(a) * b, [gate.detach().requires_grad_(), up.detach().requires_grad_()])
    d_gate, d_up = torch.autograd.grad(out, [gate, up], torch.randn(out.shape, generator=torch.Generator().manual_seed(0)),
                                       retain_graph=True)
    _close([d_gate, d_up], want[1:], torch.float32)
    assert torch.equal(_side_by_side([d_gate, d_up]), torch.cat([d_gate, d_up], 1))
    assert _side_by_side([d_up, d_gate]) is None and _side_by_side([d_gate, torch.randn(6, 4)]) is None
    with pytest.raises(RuntimeError, match="inplace"):
        torch.autograd.grad(out.sum(), [gate, up])


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_generation_and_switching_off_are_transformers_own(tiny_tokenizer, arch):
    """With a KV cache the attention runs transformers' forward; off, no module keeps a fused forward."""
    plain = _model(tiny_tokenizer, arch)
    fast = copy.deepcopy(plain)
    fused.use_fused_layers(fast)
    ids = torch.randint(5, 400, (2, 6))
    kwargs = dict(max_new_tokens=5, do_sample=False, pad_token_id=0)
    assert torch.equal(plain.generate(ids, **kwargs), fast.generate(ids, **kwargs))
    assert fused.use_fused_layers(fast, False) == MODULES[arch]
    assert not any("forward" in vars(m) for m in fast.modules())


@pytest.mark.parametrize("speedups", [True, False])
def test_the_speedups_switch_installs_them(tiny_tokenizer, speedups):
    from seedtune.train.config import TrainConfig
    from seedtune.train.modeling import causal_lm_of
    from seedtune.train.sft import setup_model

    config = TrainConfig(model="tiny", data="d.jsonl", output="out", lora_r=4, speedups=speedups)
    lm = causal_lm_of(setup_model(_model(tiny_tokenizer, "llama"), config))
    swapped = [name for name, m in lm.named_modules() if "forward" in vars(m) and "lora" not in name]
    assert len([n for n in swapped if not n.endswith("_proj")]) == (MODULES["llama"] if speedups else 0)


def test_gradient_checkpointing_recomputes_the_same(tiny_tokenizer):
    """Checkpointing re-runs each layer's forward inside backward, where the gated activation writes
    into recomputed tensors: gradients must not change."""
    from seedtune.train import speed
    from seedtune.train.modeling import SFTModule, add_lora

    plain = add_lora(_model(tiny_tokenizer, "gemma3"), 4, 8.0, 0.0, "all-linear").train()
    for name, p in plain.named_parameters():
        if "lora_B" in name:
            p.data = torch.randn(p.shape, generator=torch.Generator().manual_seed(11)) * 0.1
    speed.fuse_lora(plain)
    fused.use_fused_layers(plain.get_base_model())
    ck = copy.deepcopy(plain)
    ck.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ids = torch.randint(5, 400, (2, 24), generator=torch.Generator().manual_seed(12))
    pos = torch.arange(24).expand(2, -1)
    grads = []
    for model in (plain, ck):
        SFTModule(model)(ids, pos, ids.clone()).backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for name in grads[0]:
        assert torch.allclose(grads[0][name], grads[1][name], rtol=1e-6, atol=1e-7), name
