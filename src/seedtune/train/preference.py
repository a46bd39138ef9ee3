"""Preference data and losses for DPO: pure pieces the `dpo` recipe calls, tested on their own.

A pair becomes two examples built exactly like SFT examples (same prompt format, same
structural labels, same pre-flight checks): the prompt is masked and the answer plus its end
token are the trained tokens, so a sequence's log-probability is the sum over its answer tokens.

Losses, with pi/ref the summed answer log-probs of policy and reference, c/r chosen/rejected:
- sigmoid (DPO, Rafailov et al. 2023, eq. 7): -log sigma(beta * ((pi_c - ref_c) - (pi_r - ref_r)))
- ipo (Azar et al. 2023, eq. 17): ((pi_c - ref_c) - (pi_r - ref_r) - 1 / (2 beta))^2, on log-probs
  averaged over answer tokens (as TRL does), so long answers do not dominate the square
- simpo (Meng et al. 2024, eq. 6): -log sigma(beta * (pi_c / n_c - pi_r / n_r) - gamma), no reference
The implicit rewards are beta * (pi - ref) (SimPO: beta * pi / n); their difference is the margin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from seedtune.train.packing import Row
from seedtune.train.tokenize import Example


@dataclass
class PairData:
    """Aligned chosen/rejected rows (row k of each belongs to pair `kept[k]`) and the pre-flight."""

    chosen: list[Row]
    rejected: list[Row]
    kept: list[int]
    preflight: dict[str, Any]
    failures: list[str] = field(default_factory=list)
    end_id: int = -1

    def __len__(self) -> int:
        return len(self.kept)


def _row(example: Example) -> Row:
    return Row(list(example.input_ids), list(example.labels), list(range(len(example))), 1)


def prepare_pairs(pairs: Sequence[Any], fmt: Any, tokenizer: Any, max_length: int, truncation: str) -> PairData:
    """Render, tokenise and check both answers of every pair with SFT's own `prepare`; a pair is
    kept only when both of its answers survive the length policy."""
    from seedtune.train.data import prepare

    chosen = prepare([p.chosen_record() for p in pairs], [], fmt, tokenizer, max_length, truncation)
    rejected = prepare([p.rejected_record() for p in pairs], [], fmt, tokenizer, max_length, truncation)
    by_c = {ex.index: ex for ex in chosen.train}
    by_r = {ex.index: ex for ex in rejected.train}
    kept = [i for i in range(len(pairs)) if i in by_c and i in by_r]
    c, r = chosen.summary(), rejected.summary()
    checks = ("prompt_never_trained", "end_token_trained", "every_row_trained", "prompt_is_prefix")
    preflight = {
        "pairs": len(pairs), "kept": len(kept), "dropped": len(pairs) - len(kept),
        "answers_too_long": c["dropped_too_long"] + r["dropped_too_long"],
        "answers_empty": c["dropped_empty_output"] + r["dropped_empty_output"],
        "truncated": c["truncated"] + r["truncated"], "boundary_merges": c["boundary_merges"] + r["boundary_merges"],
        **{k: bool(c[k] and r[k]) for k in checks},
        "trained_tokens": c["trained_tokens"] + r["trained_tokens"], "total_tokens": c["total_tokens"] + r["total_tokens"],
        "identical_answers": sum(pairs[i].chosen.strip() == pairs[i].rejected.strip() for i in kept),
    }
    preflight["trained_fraction"] = round(preflight["trained_tokens"] / max(preflight["total_tokens"], 1), 4)
    failures = [f"chosen {f}" for f in chosen.checks.failures] + [f"rejected {f}" for f in rejected.checks.failures]
    preflight["failures"] = failures[:10]
    return PairData([_row(by_c[i]) for i in kept], [_row(by_r[i]) for i in kept], kept, preflight, failures,
                    chosen.specials.end_id)


def answer_tokens(row: Row) -> int:
    """Tokens whose log-prob counts (the loss's shift rule: the first position is never predicted)."""
    return sum(1 for t in range(1, len(row)) if row.labels[t] != -100)


@dataclass
class PreferenceOutput:
    """Per-pair loss and implicit rewards (all shape [B])."""

    loss: torch.Tensor
    chosen_reward: torch.Tensor
    rejected_reward: torch.Tensor

    @property
    def margin(self) -> torch.Tensor:
        return self.chosen_reward - self.rejected_reward


def preference_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor | None,
                    ref_rejected: torch.Tensor | None, n_chosen: torch.Tensor, n_rejected: torch.Tensor, *,
                    kind: str = "sigmoid", beta: float = 0.1, gamma: float = 0.5) -> PreferenceOutput:
    """The per-pair loss of `kind` from summed answer log-probs and answer token counts.

    >>> z = torch.zeros(1); n = torch.ones(1)
    >>> round(float(preference_loss(z, z, z, z, n, n).loss), 4)  # policy == reference: log 2
    0.6931
    """
    if kind == "simpo":
        c, r = policy_chosen / n_chosen, policy_rejected / n_rejected
        chosen_reward, rejected_reward = beta * c, beta * r
        loss = -F.logsigmoid(chosen_reward - rejected_reward - gamma)
        return PreferenceOutput(loss, chosen_reward.detach(), rejected_reward.detach())
    if ref_chosen is None or ref_rejected is None:
        raise ValueError(f"the {kind} loss needs reference log-probs")
    c, r = policy_chosen - ref_chosen, policy_rejected - ref_rejected
    if kind == "ipo":
        c, r = c / n_chosen, r / n_rejected
        loss = (c - r - 1.0 / (2.0 * beta)) ** 2
    elif kind == "sigmoid":
        loss = -F.logsigmoid(beta * (c - r))
    else:
        raise ValueError(f"unknown preference loss {kind!r}")
    return PreferenceOutput(loss, (beta * c).detach(), (beta * r).detach())
