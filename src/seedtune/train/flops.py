"""How much arithmetic a training step does: the numerator of MFU (model FLOPs utilisation).

Counted the way MFU is usually counted (PaLM, appendix B): the model's own matmul FLOPs for the
work the loss needs, whatever the implementation does extra (padding, recomputation) or skips.
Per token, with N the decoder-layer parameters, d the hidden size, V the vocabulary:

- linear layers: 2N forward, 2N for the input gradient, and 2N for the weight gradient when the
  weights train (full fine-tuning). LoRA's frozen weights get no weight gradient: 4N.
- attention scores and values: a token at position p of its sample attends to p + 1 tokens: 4 (p + 1) x
  (heads x head dim) FLOPs per layer forward, twice that backward (attention has no weights to
  freeze). Causal and per sample, so a packed row is not charged for pairs its mask removes.
- the LM head, only at trained positions (the loss never computes the others): 2dV forward and 2dV
  for the input gradient (+2dV when the head trains).

LoRA's own low-rank matmuls (~2% of N at rank 16) are not counted: they are not the model's work.
`bench/train_vs_trl.py` divides these FLOPs by the seconds and the measured bf16 peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    """The few numbers of a decoder model that its FLOPs depend on."""

    decoder_params: int  # parameters inside the decoder layers (no embedding, no head, no adapters)
    hidden: int
    vocab: int
    layers: int
    attention_width: int  # query heads x head dim

    @classmethod
    def of(cls, model: Any) -> "Shape":
        """From a transformers model (peft wrapper or not); adapter weights are not counted."""
        config = model.config.get_text_config()
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        n = sum(p.numel() for name, p in model.named_parameters() if ".layers." in name and "lora_" not in name)
        return cls(n, config.hidden_size, config.vocab_size, config.num_hidden_layers, heads * head_dim)


def attention_pairs(position_ids: list[int]) -> int:
    """Sum over tokens of how many tokens each attends to (itself included), samples apart:
    a sample of n tokens has n (n + 1) / 2. Samples start where the position id is 0."""
    pairs = run = 0
    for p in position_ids:
        run = 1 if p == 0 else run + 1
        pairs += run
    return pairs


def step_flops(shape: Shape, tokens: int, trained: int, pairs: int, full: bool) -> float:
    """Model FLOPs of one forward + backward over `tokens` tokens, `trained` of them in the loss,
    `pairs` attended (query, key) pairs."""
    linear = (6 if full else 4) * shape.decoder_params * tokens
    attention = 12 * shape.attention_width * shape.layers * pairs
    head = (6 if full else 4) * shape.hidden * shape.vocab * trained
    return float(linear + attention + head)
