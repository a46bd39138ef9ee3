"""Hand-fused autograd functions for the elementwise work of a decoder layer (RMSNorm, the gated MLP
activation, rotary embeddings), installed per module instance by `use_fused_layers`.

transformers writes each of these as a chain of tensor ops: every op is a full pass over the
activation (and on a CPU a fresh, page-faulting allocation), and autograd saves fp32 copies for
the backward. Each function here computes the same numbers (fp32 where transformers computes in
fp32, rounded where it rounds) in as few passes as torch's own kernels allow, and saves only its
inputs plus a per-row statistic. No compiler: everything is plain torch ops.
"""

from __future__ import annotations

import functools
import types
from typing import Any

import torch
import torch.nn.functional as F

# --- RMSNorm ----------------------------------------------------------------------------------


class _RMSNorm(torch.autograd.Function):
    """transformers' RMSNorm: Llama style (`offset` 0) y = w * to_dtype(x * rstd), Gemma style
    (`offset` 1) y = to_dtype(x * rstd * (1 + w)) in fp32; rstd = 1 / sqrt(mean(x^2) + eps) per row.

    With xh = x * rstd (fp32) and d the gradient reaching xh, dx = rstd * (d - xh * mean(d * xh)).
    On a CPU every dtype change is a pass of its own and every fresh tensor is slow to write, so
    the fp32 copy of x is made once and normalized in place, and backward works in place on d.
    Saved: x (its own dtype) and rstd; backward rebuilds xh in place (two cheap passes).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, eps: float, offset: float) -> torch.Tensor:
        xh = x.to(torch.float32, copy=True)
        rstd = torch.linalg.vector_norm(xh, 2, dim=-1, keepdim=True).square_().div_(x.shape[-1]).add_(eps).rsqrt_()
        xh.mul_(rstd)
        if offset:
            y = xh.mul_(weight.float() + offset).to(x.dtype)
        else:
            y = xh.to(x.dtype)  # rounded where transformers rounds (`.to(input_dtype)`), then x w in x's dtype
            y = y.mul_(weight) if torch.promote_types(weight.dtype, x.dtype) == x.dtype and y is not xh else y * weight
        ctx.save_for_backward(x, weight, rstd)
        ctx.offset = offset
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        xh = x.to(torch.float32, copy=True).mul_(rstd)
        if ctx.offset:  # transformers: the gradient cast back to fp32, then x (1 + w) in fp32
            d = g.to(torch.float32, copy=True).mul_(weight.float() + ctx.offset)
        else:  # w x h in the output dtype, reaching h in x's dtype, then the cast back to fp32
            d = (g * weight).to(x.dtype).to(torch.float32)
        dx = dw = None
        if ctx.needs_input_grad[1]:
            dims = tuple(range(x.dim() - 1))
            dw = (g.float() * xh if ctx.offset else g * xh.to(x.dtype)).sum(dims).to(weight.dtype)
        if ctx.needs_input_grad[0]:
            with torch.autocast(x.device.type, enabled=False):  # vecdot is a bf16 op under autocast
                coef = torch.linalg.vecdot(d, xh, dim=-1).unsqueeze(-1).div_(x.shape[-1])
            dx = d.addcmul_(xh, coef, value=-1).mul_(rstd).to(x.dtype)
        return dx, dw, None, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float, offset: float = 0.0) -> torch.Tensor:
    return _RMSNorm.apply(x, weight, eps, offset)


# --- gated MLP activation ---------------------------------------------------------------------

class _GatedAct(torch.autograd.Function):
    """act(gate) * up (SiLU or tanh-GELU) as one autograd node that saves act(gate) beside its inputs
    (recomputing it in backward was measured slower: one more pass; tanh-GELU x1.37 slower at
    Gemma-3's shape).

    Backward allocates nothing: g * up goes into up, the gate gradient into gate, the up gradient
    into up again. When gate and up are the two halves of one sibling group's output (speed.py),
    their gradients then lie side by side in it and the group's backward reads them without a
    `cat`. Writing into saved tensors bumps their version: a second backward through the same graph
    fails loudly instead of reading overwritten values.
    """

    @staticmethod
    def forward(ctx: Any, gate: torch.Tensor, up: torch.Tensor, kind: str) -> torch.Tensor:
        act = _act(gate, kind)
        ctx.save_for_backward(gate, up, act)
        ctx.kind = kind
        ctx.inplace = not (gate.is_leaf or up.is_leaf)  # a caller's own tensors are never overwritten
        return act * up

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        gate, up, act = ctx.saved_tensors
        if not (ctx.inplace and g.dtype == up.dtype and ctx.needs_input_grad[0] and ctx.needs_input_grad[1]):
            d_gate = _act_backward(g * up, gate, ctx.kind) if ctx.needs_input_grad[0] else None
            return d_gate, (g * act if ctx.needs_input_grad[1] else None), None
        gate, up = gate.detach(), up.detach()  # plain aliases (same memory and version counter), not views
        gu = up.mul_(g)
        d_gate = _act_backward(gu, gate, ctx.kind, out=gate)
        d_up = torch.mul(g, act, out=up)
        return d_gate, d_up, None


def _act_backward(grad: torch.Tensor, x: torch.Tensor, kind: str, out: torch.Tensor | None = None) -> torch.Tensor:
    """The activation's input gradient; into `out` (which may be x itself) when given."""
    if kind == "silu":
        op = torch.ops.aten.silu_backward
        return op(grad, x) if out is None else op.grad_input(grad, x, grad_input=out)
    op = torch.ops.aten.gelu_backward
    return op(grad, x, approximate="tanh") if out is None else op.grad_input(grad, x, approximate="tanh", grad_input=out)


def _act(x: torch.Tensor, kind: str) -> torch.Tensor:
    return F.silu(x) if kind == "silu" else F.gelu(x, approximate="tanh")


def gated_act(gate: torch.Tensor, up: torch.Tensor, kind: str) -> torch.Tensor:
    return _GatedAct.apply(gate, up, kind)


# --- rotary embedding -------------------------------------------------------------------------

class _Rotary(torch.autograd.Function):
    """transformers' `apply_rotary_pos_emb` for q and k: x cos + rotate_half(x) sin, rotate_half(x) =
    [-x2, x1]. Written on the two halves as views into one output, no `cat`:
    y1 = x1 cos1 - x2 sin1, y2 = x2 cos2 + x1 sin2. Backward is the transposed rotation:
    dx1 = g1 cos1 + g2 sin2, dx2 = g2 cos2 - g1 sin1.

    q, k [B, H, L, D] (any strides); cos, sin [B, L, D]. Outputs are [B, L, H, D] buffers seen as
    [B, H, L, D], the layout the attention reads rows from.
    """

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)  # [B, L, 1, D]
        ctx.save_for_backward(cos, sin)
        ctx.dtypes = (q.dtype, k.dtype)
        return tuple(_rotate(t.transpose(1, 2), cos, sin, 1).transpose(1, 2) for t in (q, k))

    @staticmethod
    def backward(ctx: Any, gq: torch.Tensor, gk: torch.Tensor):
        cos, sin = ctx.saved_tensors
        return tuple(None if g is None else _rotate(g.transpose(1, 2), cos, sin, -1).transpose(1, 2).to(dtype)
                     for g, dtype in zip((gq, gk), ctx.dtypes)) + (None, None)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, sign: int) -> torch.Tensor:
    """[B, L, H, D] -> a new contiguous [B, L, H, D]: the rotation by +sin (sign 1) or -sin (-1), in
    the promoted dtype as transformers' `q * cos` (fp32 cos and bf16 q under full fine-tuning: fp32)."""
    half = x.shape[-1] // 2
    out = torch.empty(x.shape, dtype=torch.promote_types(x.dtype, cos.dtype), device=x.device)
    x1, x2, o1, o2 = x[..., :half], x[..., half:], out[..., :half], out[..., half:]
    if sign > 0:
        torch.mul(x1, cos[..., :half], out=o1).addcmul_(x2, sin[..., :half], value=-1)
        torch.mul(x2, cos[..., half:], out=o2).addcmul_(x1, sin[..., half:])
    else:
        torch.mul(x1, cos[..., :half], out=o1).addcmul_(x2, sin[..., half:])
        torch.mul(x2, cos[..., half:], out=o2).addcmul_(x1, sin[..., :half], value=-1)
    return out


def rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _Rotary.apply(q, k, cos, sin)


# --- installing: per module instance, reversible ----------------------------------------------

def _norm_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    offset, eps_name = self.seedtune_norm
    return _RMSNorm.apply(x, self.weight, getattr(self, eps_name), offset)


def _mlp_forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    # gate before up, as transformers calls them: a sibling group (speed.py) computes both on the first.
    return self.down_proj(_GatedAct.apply(self.gate_proj(x), self.up_proj(x), self.seedtune_act))


def _attention_forward(self: Any, hidden_states: torch.Tensor, position_embeddings: Any = None,
                       attention_mask: torch.Tensor | None = None, cache: Any = None, **kwargs: Any) -> Any:
    """transformers' Llama/Gemma/Gemma-3 attention forward with the fused rotary; with a KV cache
    (generation) or anything unusual, the class's own forward."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.llama.modeling_llama import eager_attention_forward

    if cache is not None or kwargs.get("past_key_values") is not None or position_embeddings is None:
        return type(self).forward(self, hidden_states, position_embeddings=position_embeddings,
                                  attention_mask=attention_mask, cache=cache, **kwargs)
    input_shape = hidden_states.shape[:-1]
    hidden_shape = (*input_shape, -1, self.head_dim)
    query = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
    key = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
    value = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)
    if hasattr(self, "q_norm"):  # Gemma-3 normalizes each head before the rotation
        query, key = self.q_norm(query), self.k_norm(key)
    query, key = _Rotary.apply(query, key, *position_embeddings)
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(self.config._attn_implementation, eager_attention_forward)
    if hasattr(self, "sliding_window"):
        kwargs["sliding_window"] = self.sliding_window
    out, weights = interface(self, query, key, value, attention_mask, scaling=self.scaling,
                             dropout=self.attention_dropout if self.training else 0.0, **kwargs)
    return self.o_proj(out.reshape(*input_shape, -1).contiguous()), weights


def _activation(act: Any) -> str | None:
    """'silu' or 'gelu_tanh' for transformers' activation modules computing exactly that; else None."""
    from transformers.activations import GELUTanh, SiLUActivation

    if type(act) in (SiLUActivation, torch.nn.SiLU):
        return "silu"
    inner = getattr(act, "act", None)
    if (type(act) is GELUTanh and isinstance(inner, functools.partial) and inner.func is F.gelu
            and inner.keywords == {"approximate": "tanh"}):
        return "gelu_tanh"
    return None


_FORWARDS = (_norm_forward, _mlp_forward, _attention_forward)


@functools.cache
def _classes() -> dict[type, str]:
    """The transformers classes whose forwards the fused ones reproduce (checked by
    tests/test_train_fused.py against the originals): Llama, Gemma and Gemma-3."""
    from transformers.models.gemma import modeling_gemma as gemma
    from transformers.models.gemma3 import modeling_gemma3 as gemma3
    from transformers.models.llama import modeling_llama as llama

    return {llama.LlamaRMSNorm: "llama_norm", gemma.GemmaRMSNorm: "gemma_norm", gemma3.Gemma3RMSNorm: "gemma_norm",
            llama.LlamaMLP: "mlp", gemma.GemmaMLP: "mlp", gemma3.Gemma3MLP: "mlp",
            llama.LlamaAttention: "attention", gemma.GemmaAttention: "attention", gemma3.Gemma3Attention: "attention"}


def use_fused_layers(model: Any, on: bool = True) -> int:
    """Give the RMSNorms, gated MLPs and attention modules of a Llama, Gemma or Gemma-3 model the
    fused forwards (on) or their own back (off, before saving or generating); how many modules."""
    n = 0
    for module in model.modules():
        kind = _classes().get(type(module))
        if kind == "mlp":
            module.seedtune_act = _activation(module.act_fn)
            kind = kind if module.seedtune_act else None
        if kind is None:
            continue
        n += 1
        if not on:
            if getattr(module.__dict__.get("forward"), "__func__", None) in _FORWARDS:  # only ours
                del module.forward
            continue
        if kind.endswith("norm"):
            module.seedtune_norm = (0.0, "variance_epsilon") if kind == "llama_norm" else (1.0, "eps")
        forward = {"mlp": _mlp_forward, "attention": _attention_forward}.get(kind, _norm_forward)
        module.forward = types.MethodType(forward, module)
    return n
