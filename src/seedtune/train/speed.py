"""What makes a training step fast on a CPU, each piece measured by `bench/train_vs_trl.py --profile`.

- **Segment attention.** A packed row holds several samples; transformers' SDPA path builds a
  block-diagonal [B, 1, L, L] mask for it, and a masked attention kernel computes all L x L
  scores. Run instead as causal attention per sample (the samples are the segments where the
  position ids restart), the work is the sum of squared sample lengths, not the squared row
  length: ~3x less for 512-token rows of ~150-token samples. Short samples are grouped by length
  into a few padded buckets, so a layer runs a few batched matmuls, not a pair per sample (per-
  sample calls spent more time in dispatch, masks and copies than in arithmetic).
- **Fused LoRA linear.** peft computes `base(x) + B(A(x)) * scaling`: a multiply and an add over
  the full output activation in forward, two more in backward, and autocast copies of A and B.
  One autograd function folds the scaling into B and accumulates the low-rank product in place
  (`addmm`), forward and backward. Projections that read the same input (q/k/v, gate/up) run as
  one wider matmul with one rank-48 (or -32) down-projection.
  From 128 tokens on, a bucket scores the first half of its queries against the first half of
  the keys only: 3/4 of the masked square's work (x1.1-1.2 for the attention's forward +
  backward at SmolLM2's shapes, one and two threads, lightly loaded).
- **Fused AdamW** (`fused=True`, one kernel over every parameter instead of a Python loop).
- **Freed memory reused** (`reuse_freed_memory`, glibc): without it every large activation is a
  fresh mmap that each step faults in and zero-fills again.

With the buckets, the groups and the softmax-based loss (loss.py), a SmolLM2-135M LoRA step (bf16,
8 x 512 packed, 2 cores, quiet) runs x1.18-1.22 the tokens/s of the plain path; its own CPU time is
matmuls 58%, attention 17%, the norm/SiLU/rotary elementwise passes 12% (what a compiler would
fuse), dispatch 7%, copies 6%, the loss 1% (`bench/train_vs_trl.py --profile`). With fused.py
too (below), quiet: x1.30 the plain path (431.7 vs 332.9 tok/s), matmuls 68%, attention 14%,
elementwise 7%, dispatch 6%, copies 3%, the loss 1%.

The elementwise passes (fused.py, same switch): RMSNorm, act(gate) * up and the rotary embedding
as hand-fused autograd functions, fewer passes, fresh tensors and saved activations, no compiler.
Measured on a loaded machine (load ~3 on 2 cores), one thread, alternating branch runs
(`OMP_NUM_THREADS=1 python bench/train_vs_trl.py --model smollm2-135m-instruct --steps 4 --runs
seedtune,seedtune-plain`): SmolLM2-135M LoRA step x1.08-1.09 tokens/s over the same speedups without
fused.py and the bias mask (249-264 vs 230-242 tok/s; x1.39-1.41 vs x1.27-1.34 over the plain path
in the same run), peak RSS 4.8 instead of 5.6 GB, final loss within 0.1%; Gemma-3-270m LoRA
(`--model gemma-3-270m --steps 3 --runs seedtune`, one pair) x1.10 (183.5 vs 167.1 tok/s), RSS 5.1
instead of 5.6 GB; half of its step is the 262k-vocabulary head and loss, which fused.py leaves alone. Op by op, forward +
backward at 8 x 512 tokens, one thread: RMSNorm x1.5-2 (576 and 640 wide), rotary x1.2 (9+3 heads of
64) and ~x1.0-1.3 (4+1 of 256), the gated activation x1.0 alone (its gain is in the gate/up group's
backward: no allocation, no `cat`). In bucket attention the mask as a bias is bit-equal and x1.25
forward + backward. What is left of a SmolLM2 step (one thread): matmuls ~70% (already at the
single-thread bf16 matmul rate), bucket attention ~12%, elementwise and copies ~10%.

With the split buckets and the reused memory, in-process alternating steps (2 threads, synthetic
8 x 512 rows of 60-260-token samples, six rounds, the machine otherwise quiet): 8.52 s vs 8.77 s
a step (x1.03; the allocator alone 8.58 s), the round-to-round noise about as large (+-4%).
Whole bench runs (`bench/train_vs_trl.py --model smollm2-135m-instruct --steps 20 --runs
seedtune`, alternating checkouts, load average 1.2-2.0 at each start, the run's own 2 threads included): 490.5 and 503.3 tok/s after, 472.0 and
509.0 before, 485.9 after (MFU 52.2%) in a third; MFU 49.2-52.9% either way, the measured
peak itself moving 396-422 GFLOP/s. Gemma-3-270m LoRA (`--model gemma-3-270m --steps 3 --runs
seedtune`, two alternating pairs): x1.13 and x1.09 (361.3 vs 319.9, 350.4 vs 322.3 tok/s; final
loss 2.2056 vs 2.2071), peak RSS +1-4%: its 262k-vocabulary head allocates the largest blocks.

Each is exact up to float rounding (tests/test_train_speed.py and tests/test_train_fused.py compare
losses and gradients with and without). `train.speedups: false` turns them all off, for comparison.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform
import types
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F

ATTENTION = "seedtune_segments"
_registered = False


# --- segment attention ------------------------------------------------------------------------

def segment_lengths(position_ids: torch.Tensor) -> list[list[int]]:
    """Per row, the lengths of its samples: a sample starts where the position id is 0.

    [[0, 1, 2, 0, 1]] -> [[3, 2]]. The padding that `collate` appends restarts at 0 too, so it is
    a segment of its own that no real token attends to.
    """
    width = position_ids.shape[1]
    rows = []
    for starts in (position_ids == 0).tolist():
        at = [i for i, s in enumerate(starts) if s] or [0]
        if at[0] != 0:
            at.insert(0, 0)  # a row not starting at position 0 (a truncated sample) is still a segment
        rows.append([b - a for a, b in zip(at, at[1:] + [width])])
    return rows


def _window_mask(n: int, window: int, device: torch.device) -> torch.Tensor:
    """Causal and within `window` tokens (Gemma's local layers), for a sample longer than it."""
    i = torch.arange(n, device=device)
    d = i[:, None] - i[None, :]
    return (d >= 0) & (d < window)


def segment_attention(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                      position_ids: torch.Tensor | None = None, sliding_window: int | None = None,
                      **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers attention interface: query [B, H, L, D], key/value [B, Hkv, L, D] -> [B, L, H, D].

    Anything this does not cover (a padding mask, a KV cache, soft-capped scores, no position ids)
    goes to transformers' own SDPA function unchanged.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (attention_mask is not None or position_ids is None or kwargs.get("softcap") is not None
            or query.shape[2] != key.shape[2] or query.shape[2] == 1):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      sliding_window=sliding_window, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    b, h, length, d = query.shape
    plan = _plan(position_ids.expand(b, -1), sliding_window, bucketed=not dropout)
    return _bucketed_attention(plan, query, key, value, scale, sliding_window, dropout).view(b, length, h, d), None


# --- short samples in buckets: a few batched matmuls per layer instead of one pair per sample -----

# Samples are grouped by length rounded up to this many tokens and padded to their bucket's
# longest: padding adds < BUCKET tokens per sample and never changes a real token's output (a
# padded key comes after every real query of its sample, so the causal mask already hides it).
BUCKET = 64


class _Plan:
    """Where each sample of a packed batch sits, computed once per forward and shared by every layer."""

    def __init__(self, position_ids: torch.Tensor, window: int | None, bucketed: bool = True):
        width = position_ids.shape[1]
        self.buckets: list[tuple[int, torch.Tensor, torch.Tensor]] = []  # (length, gather index [k, m], real rows)
        self.long: list[tuple[int, int]] = []  # (flat start, length): the flash kernel, one by one
        by_size: dict[int, list[tuple[int, int]]] = {}
        for row, lengths in enumerate(segment_lengths(position_ids)):
            start = row * width
            for n in lengths:
                if not bucketed or n > SMALL or (window and n > window):  # (dropout: one by one)
                    self.long.append((start, n))
                else:
                    by_size.setdefault(-(-n // BUCKET) * BUCKET, []).append((start, n))
                start += n
        order = []  # flat positions in the order the outputs are concatenated
        for size in sorted(by_size):
            segments = by_size[size]
            m = max(n for _, n in segments)
            steps = torch.arange(m)
            starts = torch.tensor([s for s, _ in segments])[:, None]
            ends = torch.tensor([s + n for s, n in segments])[:, None]
            index = starts + steps  # [k, m]; past a sample's end it points at its own last token
            real = (index < ends).reshape(-1)
            index = torch.minimum(index, ends - 1)
            self.buckets.append((m, index.to(position_ids.device), real.to(position_ids.device)))
            order.append(index.reshape(-1)[real.cpu()])
        order += [torch.arange(s, s + n) for s, n in self.long]
        self.order = torch.cat(order).to(position_ids.device) if order else torch.zeros(0, dtype=torch.long)
        # One gather for every bucket and long sample: its backward is one scatter into one zero
        # tensor, where a gather per bucket would zero-fill and add a full-size tensor per bucket.
        pieces = [index.reshape(-1) for _, index, _ in self.buckets]
        pieces += [torch.arange(s, s + n, device=position_ids.device) for s, n in self.long]
        self.gather = torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.long)
        self.sizes = [len(piece) for piece in pieces]


_last_plan: tuple[torch.Tensor | None, tuple[Any, ...], _Plan | None] = (None, (), None)


def _plan(position_ids: torch.Tensor, window: int | None, bucketed: bool) -> _Plan:
    """The plan for these position ids; the layers of one forward share one (same tensor object)."""
    global _last_plan
    seen, seen_key, plan = _last_plan
    if seen is not position_ids or seen_key != (window, bucketed) or plan is None:
        plan = _Plan(position_ids, window, bucketed)
        _last_plan = (position_ids, (window, bucketed), plan)
    return plan


def _bucketed_attention(plan: _Plan, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float,
                        window: int | None, dropout: float = 0.0) -> torch.Tensor:
    """query [B, H, L, D], key/value [B, Hkv, L, D] -> [B*L, H*D] rows in flat position order."""
    b, heads, length, d = query.shape
    kv = key.shape[1]
    g = heads // kv
    # [B, H, L, D] transposed back to rows of [H*D]: a view when the projections' layout is kept.
    q_rows = query.transpose(1, 2).reshape(b * length, heads * d)
    k_rows = key.transpose(1, 2).reshape(b * length, kv * d)
    v_rows = value.transpose(1, 2).reshape(b * length, kv * d)
    q_all, k_all, v_all = (rows.index_select(0, plan.gather).split(plan.sizes) for rows in (q_rows, k_rows, v_rows))
    outs = []
    for (m, index, real), q, k, v in zip(plan.buckets, q_all, k_all, v_all):
        outs.append(_bucket(q, k, v, index.shape[0], m, kv, g, scale)[real])
    for (start, n), q, k, v in zip(plan.long, *(parts[len(plan.buckets):] for parts in (q_all, k_all, v_all))):
        q, k, v = (t.view(n, -1, d).transpose(0, 1) for t in (q, k, v))
        outs.append(causal_attention(q, k, v, scale, dropout, window).reshape(n, heads * d))
    rows = torch.cat(outs, 0)
    # in place into a fresh tensor: out-of-place index_copy would first copy the empty one
    return rows.new_empty(b * length, heads * d).index_copy_(0, plan.order, rows)


# Buckets this long or longer split their queries in two halves (see `_bucket`).
SPLIT = 128


def _bucket(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, count: int, m: int, kv: int, g: int,
            scale: float) -> torch.Tensor:
    """Causal attention over `count` samples padded to m tokens: q [count*m, Hkv*g*D] rows, k/v
    [count*m, Hkv*D] -> [count*m, Hkv*g*D].

    The query heads of a KV group are stacked ([count*Hkv, g*m, D], as in causal_attention), so K
    and V are never repeated. A full m x m score matrix wastes its upper half on the mask; from
    SPLIT tokens on, the first half of the queries is scored against the first half of the keys
    only and the second half against all: 3/4 of the scores, softmax and matmuls, the same numbers
    (a query's keys and mask are unchanged; the dropped keys only ever got probability 0).
    """
    d = k.shape[1] // kv
    qv = q.view(count, m, kv, g, d).permute(0, 2, 3, 1, 4)  # [count, Hkv, g, m, D], a view
    k = k.view(count, m, kv, d).transpose(1, 2).reshape(count * kv, m, d)
    v = v.view(count, m, kv, d).transpose(1, 2).reshape(count * kv, m, d)
    cuts = [0, m // 2, m] if m >= SPLIT else [0, m]
    parts = []
    for start, stop in zip(cuts, cuts[1:]):
        n = stop - start
        q_part = qv[:, :, :, start:stop].reshape(count * kv, g * n, d)
        # The causal mask rides in the matmul as an added 0 / -inf bias: no masked_fill pass over
        # the scores, and no in-place write into a view for autograd to undo with a full copy.
        scores = torch.baddbmm(_causal_bias(n, stop, g, q.dtype, q.device), q_part, k[:, :stop].transpose(1, 2),
                               alpha=scale)
        # back to token-major [count, n, Hkv, g, D]; the `cat` below makes it one contiguous buffer
        parts.append((scores.softmax(-1) @ v[:, :stop]).view(count, kv, g, n, d).permute(0, 3, 1, 2, 4))
    out = torch.cat(parts, 1) if len(parts) > 1 else parts[0].contiguous()
    return out.view(count * m, kv * g * d)


_biases: dict[tuple[int, int, int, torch.dtype, str], torch.Tensor] = {}


def _causal_bias(queries: int, keys: int, groups: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """[groups * queries, keys]: the last `queries` of `keys` positions as queries; -inf where the
    key is in a query's future, 0 elsewhere; once per query head of a KV group. Cached: every
    layer of every step reuses it."""
    key = (queries, keys, groups, dtype, str(device))
    if key not in _biases:
        future = torch.ones(queries, keys, dtype=torch.bool, device=device).triu(keys - queries + 1)
        _biases[key] = (torch.zeros(queries, keys, dtype=dtype, device=device)
                        .masked_fill_(future, float("-inf")).repeat(groups, 1))
    return _biases[key]


# Up to here batched matmuls beat the CPU flash kernel (1.2-2x at 64-256 tokens for one sample,
# measured with bf16 on AVX512-BF16; in buckets, 512 instead of 384 gave +6-8% tokens/s for a
# whole SmolLM2 step, two alternating quiet runs each); beyond it the flash kernel, which never
# holds the [H, n, n] scores.
SMALL = 512


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, dropout: float = 0.0,
                     window: int | None = None) -> torch.Tensor:
    """One sample: q [H, n, D], k/v [Hkv, n, D] -> [n, H, D], causal (and local when n > window).

    Short samples use two batched matmuls around a softmax (eager attention's numerics) with the query heads
    of a KV group stacked so K and V are never repeated; longer ones use SDPA's flash kernel.
    """
    heads, n, d = q.shape
    kv = k.shape[0]
    if n <= SMALL and not dropout and not (window and n > window):
        g = heads // kv
        # The scale rides in the matmul (alpha); softmax reads bf16 and accumulates in fp32 itself,
        # so no fp32 copy of the [H, n, n] scores is made.
        scores = torch.baddbmm(q.new_zeros(()), q.reshape(kv, g * n, d), k.transpose(1, 2), beta=0, alpha=scale)
        scores.view(kv, g, n, n).masked_fill_(torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
        return (scores.softmax(-1) @ v).view(heads, n, d).transpose(0, 1)
    mask = _window_mask(n, window, q.device) if window and n > window else None
    out = F.scaled_dot_product_attention(q[None], k[None], v[None], attn_mask=mask, dropout_p=dropout, scale=scale,
                                         is_causal=mask is None, enable_gqa=heads != kv)
    return out[0].transpose(0, 1)


def _no_mask(*args: Any, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor | None:
    """The mask builder for segment attention: none when the caller passed no padding mask (the
    segments come from the position ids); otherwise transformers' SDPA mask, for the fallback."""
    from transformers.masking_utils import sdpa_mask

    return None if attention_mask is None else sdpa_mask(*args, attention_mask=attention_mask, **kwargs)


def use_segment_attention(model: Any, on: bool = True) -> None:
    """Switch a transformers model to segment attention (on) or back to SDPA (off, before saving)."""
    global _registered
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    if not _registered:
        AttentionInterface.register(ATTENTION, segment_attention)
        AttentionMaskInterface.register(ATTENTION, _no_mask)
        _registered = True
    model.set_attn_implementation(ATTENTION if on else "sdpa")


# --- fused LoRA linear ------------------------------------------------------------------------

class _LoRALinear(torch.autograd.Function):
    """y = x W^T (+ bias) + (x A^T) (s B)^T with W frozen; the low-rank term accumulates in place.

    Shapes: x [N, in], W [out, in], A [r, in], B [out, r]. Backward: dx = g W + (g sB) A,
    dA = (g sB)^T x, dB = s g^T (x A^T).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, a: torch.Tensor,
                b: torch.Tensor, scaling: float) -> torch.Tensor:
        dtype = x.dtype
        a_c, sb_c = a.to(dtype), (b * scaling).to(dtype)
        xa = x @ a_c.T  # [N, r]
        y = F.linear(x, weight.to(dtype), None if bias is None else bias.to(dtype))
        y.addmm_(xa, sb_c.T)
        ctx.save_for_backward(x, xa, weight, a_c, sb_c)
        ctx.scaling = scaling
        ctx.param_dtypes = (a.dtype, b.dtype)
        return y

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor):
        x, xa, weight, a_c, sb_c = ctx.saved_tensors
        g = g.contiguous()
        gb = g @ sb_c  # [N, r]
        dx = None
        if ctx.needs_input_grad[0]:
            dx = g @ weight.to(g.dtype)
            dx.addmm_(gb, a_c)
        da = (gb.T @ x).to(ctx.param_dtypes[0])
        db = ((g.T @ xa) * ctx.scaling).to(ctx.param_dtypes[1])
        return dx, None, None, da, db, None


def _plain_adapter(self: Any) -> str | None:
    """The one active adapter's name when the fused path computes exactly what peft would: one
    adapter, no dropout, not merged or disabled, frozen base; else None."""
    name = self.active_adapters[0] if len(self.active_adapters) == 1 else None
    if (name is None or self.disable_adapters or self.merged or name not in self.lora_A
            or name in getattr(self, "lora_variant", {}) or not isinstance(self.lora_dropout[name], torch.nn.Identity)
            or self.base_layer.weight.requires_grad):
        return None
    return name


def _fused_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """peft's LoRA Linear forward for the plain case (see `_plain_adapter`); anything else runs
    peft's own forward."""
    name = None if (args or kwargs) else _plain_adapter(self)
    base = self.base_layer
    if name is None:
        return type(self).forward(self, x, *args, **kwargs)
    dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
    shape = x.shape
    with torch.autocast(x.device.type, enabled=False):
        y = _LoRALinear.apply(x.reshape(-1, shape[-1]).to(dtype), base.weight, base.bias,
                              self.lora_A[name].weight, self.lora_B[name].weight, float(self.scaling[name]))
    return y.view(*shape[:-1], y.shape[-1])


def fuse_lora(model: Any) -> int:
    """Give every plain peft LoRA Linear (over an nn.Linear) the fused forward, and let siblings that
    read the same input (q/k/v, gate/up) run as one group; how many linears."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    n = 0
    for parent in model.modules():
        fused = {}
        for name, module in parent.named_children():
            if type(module) is LoraLinear and type(module.base_layer) is torch.nn.Linear:
                module.forward = types.MethodType(_fused_forward, module)
                fused[name] = module
                n += 1
        for names in SIBLINGS:
            members = [fused[name] for name in names if name in fused]
            if len(members) > 1 and _groupable(members):
                group = _Group(members)
                for index, member in enumerate(members):
                    # On the module, not a bound method of the group: deepcopy keeps them together.
                    member.seedtune_group, member.seedtune_group_index = group, index
                    member.forward = types.MethodType(_group_forward, member)
    return n


# --- sibling groups: one matmul for the projections that read the same input -----------------

# Projections a decoder layer applies to the same tensor, one after the other.
SIBLINGS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


def _group_forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return self.seedtune_group.forward_of(self, self.seedtune_group_index, x, *args, **kwargs)


def _groupable(members: list[Any]) -> bool:
    bases = [m.base_layer for m in members]
    return (len({b.in_features for b in bases}) == 1 and len({b.weight.dtype for b in bases}) == 1
            and all(b.bias is None for b in bases))


class _Group:
    """q, k and v (or gate and up) as one linear over their concatenated weights, and their LoRA
    down-projections as one rank-(16 x 3) matmul: the input is read once, the matmuls are wider
    (k/v alone are 3x narrower than q in grouped-query attention), and backward sums the input
    gradient inside one matmul instead of adding three. transformers calls the siblings one after
    the other on the same tensor: the first call computes all of them and keeps the others' outputs
    until they ask (matched by tensor identity; any other call runs the single fused path)."""

    def __init__(self, members: list[Any]):
        self.members = members
        self.pending: dict[int, torch.Tensor] = {}
        self.source: torch.Tensor | None = None
        self.weight: torch.Tensor | None = None
        self.weight_key: tuple[Any, ...] = ()

    def cat_weight(self) -> torch.Tensor:
        """The frozen weights, concatenated once (rebuilt if a weight changes dtype or storage)."""
        weights = [m.base_layer.weight for m in self.members]
        key = tuple((w.dtype, w.data_ptr()) for w in weights)
        if self.weight is None or key != self.weight_key:
            self.weight, self.weight_key = torch.cat([w.detach() for w in weights]), key
        return self.weight

    def forward_of(self, member: Any, index: int, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.source is x and index in self.pending:
            out = self.pending.pop(index)
            if not self.pending:
                self.source = None
            return out
        outs = self._run(x) if not (args or kwargs) else None
        if outs is None:
            return _fused_forward(member, x, *args, **kwargs)
        self.source, self.pending = x, {i: o for i, o in enumerate(outs) if i != index}
        return outs[index]

    def _run(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        names = [_plain_adapter(m) for m in self.members]
        if any(n is None for n in names) or len(set(names)) != 1:
            return None
        name = names[0]
        dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
        shape = x.shape
        with torch.autocast(x.device.type, enabled=False):
            weight = self.cat_weight()
            outs = _GroupLoRA.apply(x.reshape(-1, shape[-1]).to(dtype), weight.to(dtype),
                                    tuple(m.base_layer.out_features for m in self.members),
                                    tuple(float(m.scaling[name]) for m in self.members),
                                    *[m.lora_A[name].weight for m in self.members],
                                    *[m.lora_B[name].weight for m in self.members])
        return [o.view(*shape[:-1], o.shape[-1]) for o in outs]


class _GroupLoRA(torch.autograd.Function):
    """[y_1 .. y_m] = x [W_1 .. W_m]^T + per member (x A_i^T)(s_i B_i)^T, W frozen.

    x [N, in], W_cat [sum(out), in], A_i [r, in], B_i [out_i, r]. Backward: with g_i each output's
    gradient and gb_i = g_i s_i B_i: dx = g_cat W_cat + gb_cat A_cat, dA_cat = gb_cat^T x,
    dB_i = s_i g_i^T (x A_i^T).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, sizes: tuple[int, ...], scalings: tuple[float, ...],
                *adapters: torch.Tensor) -> tuple[torch.Tensor, ...]:
        m = len(sizes)
        a_list, b_list = adapters[:m], adapters[m:]
        dtype = x.dtype
        a_cat = torch.cat([a.to(dtype) for a in a_list])  # [sum r, in]
        sbs = [(b * s).to(dtype) for b, s in zip(b_list, scalings)]
        xa = x @ a_cat.T  # [N, sum r]
        y = x @ weight.T  # [N, sum out]
        ranks = [a.shape[0] for a in a_list]
        for y_i, xa_i, sb in zip(y.split(sizes, 1), xa.split(ranks, 1), sbs):
            y_i.addmm_(xa_i, sb.T)
        ctx.save_for_backward(x, xa, weight, a_cat, *sbs)
        ctx.meta = (sizes, scalings, ranks, [a.dtype for a in a_list], [b.dtype for b in b_list])
        return tuple(y.split(sizes, 1))

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor):
        x, xa, weight, a_cat, *sbs = ctx.saved_tensors
        sizes, scalings, ranks, a_dtypes, b_dtypes = ctx.meta
        grads = [torch.zeros(x.shape[0], n, dtype=x.dtype, device=x.device) if g is None else g.to(x.dtype)
                 for g, n in zip(grads, sizes)]
        g = _side_by_side(grads)
        g = torch.cat(grads, 1) if g is None else g
        gb = torch.cat([g_i @ sb for g_i, sb in zip(grads, sbs)], 1)  # [N, sum r]
        dx = None
        if ctx.needs_input_grad[0]:
            dx = g @ weight
            dx.addmm_(gb, a_cat)
        da = [d.to(t) for d, t in zip((gb.T @ x).split(ranks, 0), a_dtypes)]
        db = [((g_i.T @ xa_i) * s).to(t) for g_i, xa_i, s, t in zip(grads, xa.split(ranks, 1), scalings, b_dtypes)]
        return (dx, None, None, None, *da, *db)


def _side_by_side(parts: list[torch.Tensor]) -> torch.Tensor | None:
    """[N, n_1] .. [N, n_m] column blocks that already lie next to each other in one row-major
    [N, sum n] buffer (the fused gated activation writes the gate and up gradients into the
    group's own output, fused.py), seen as that buffer without a copy; else None."""
    width = sum(p.shape[1] for p in parts)
    first = parts[0]
    if first.dim() != 2 or first.stride() != (width, 1):
        return None
    at = first.data_ptr()
    for p in parts:
        if (p.stride() != (width, 1) or p.data_ptr() != at or p.dtype != first.dtype
                or p.untyped_storage().data_ptr() != first.untyped_storage().data_ptr()):
            return None
        at += p.shape[1] * p.element_size()
    return first.as_strided((first.shape[0], width), (width, 1))


def adamw(params: list[torch.nn.Parameter], fused: bool, **kwargs: Any) -> torch.optim.Optimizer:
    """AdamW; fused into one kernel when asked and every parameter is a plain fp32 tensor."""
    plain = all(type(p.data) is torch.Tensor and p.dtype == torch.float32 for p in params)
    return torch.optim.AdamW(params, fused=bool(fused and plain) or None, **kwargs)


# --- the allocator: a step's activations reuse the last step's memory ---------------------------

# glibc's mallopt parameters (malloc.h) and their defaults, restored after training.
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}


@contextlib.contextmanager
def reuse_freed_memory(on: bool = True) -> Iterator[bool]:
    """Inside, glibc's malloc keeps freed memory for the next allocation instead of returning it
    to the OS; yields whether it could (glibc only; elsewhere nothing changes).

    Why: glibc serves every large block (a [4096, 3072] activation is 25 MB) with a fresh mmap
    and unmaps it on free, so each step faults in, zero-fills and unmaps every activation again:
    a third of a step's page faults and a few percent of its time (the widest matmuls ran at 87%
    of the rate of the same matmul into warm memory). With no mmap and no trimming, the heap
    grows to one step's peak once and later steps reuse it. Numbers are unchanged (only where
    memory lies); peak RSS is the same within 1%. Measured on SmolLM2-135M LoRA: x1.02 a step in
    process (2 threads, six alternating rounds, 8.58 vs 8.77 s; one thread, three alternating
    process pairs, 15.54 vs 15.86 s), x1.04 for one pair of whole bench runs (485.8 vs 465.3
    tok/s). On exit the defaults return and the free heap goes back to the OS.
    """
    libc = _glibc() if on else None
    if libc is None:
        yield False
        return
    libc.mallopt(_M_MMAP_MAX, 0)
    libc.mallopt(_M_TRIM_THRESHOLD, -1)  # glibc reads it as a size_t: never trim
    try:
        yield True
    finally:
        for param, value in _DEFAULTS.items():
            libc.mallopt(param, value)
        libc.malloc_trim(0)


def _glibc() -> Any:
    """The C library when it is glibc (which has mallopt and malloc_trim); else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None
