"""Padding-free packing: best-fit decreasing into rows, per-sample positions, no cross-talk.

Why: instruction rows are short and vary in length; padding a batch to its longest row wastes
most of the compute on a CPU. Packing several samples into one row of `capacity` tokens removes
the waste, but only if samples cannot see each other. Position ids restart at 0 for every
sample; transformers (>= 4.5x, checked for 5.x) turns position ids that restart, with
`attention_mask=None` and no KV cache, into a block-diagonal causal mask for SDPA/eager
(`masking_utils.find_packed_sequence_indices`). `sft.self_check_packing` verifies this on the
actual model before step 1 instead of trusting it.

Bin packing: best-fit decreasing (Johnson 1973): sort by length, put each sample in the fullest
row it still fits; a balanced tree of free space makes each placement O(log n).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from seedtune.train.tokenize import IGNORE, Example


def best_fit_decreasing(lengths: Sequence[int], capacity: int) -> list[list[int]]:
    """Group item indices into bins of at most `capacity` total length (best-fit decreasing).

    Deterministic: ties broken by index. Items longer than capacity get a bin of their own
    (callers enforce max_length before packing, so this does not happen in training).
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    # Sorted list of (free_space, bin_id); bisect finds the tightest bin with room.
    free: list[tuple[int, int]] = []
    for i in order:
        n = lengths[i]
        pos = bisect.bisect_left(free, (n, -1))
        if pos < len(free):
            space, b = free.pop(pos)
            bins[b].append(i)
            bisect.insort(free, (space - n, b))
        else:
            bins.append([i])
            bisect.insort(free, (capacity - n, len(bins) - 1))
    return bins


@dataclass(frozen=True)
class Row:
    """One packed (or single-sample) row: concatenated ids, labels and restarting positions."""

    input_ids: list[int]
    labels: list[int]
    position_ids: list[int]
    n_samples: int

    def __len__(self) -> int:
        return len(self.input_ids)


def pack_rows(examples: Sequence[Example], capacity: int, packing: bool = True) -> list[Row]:
    """Examples -> rows. With packing, BFD bins; without, one example per row."""
    groups = best_fit_decreasing([len(e) for e in examples], capacity) if packing else [[i] for i in range(len(examples))]
    rows = []
    for group in groups:
        ids: list[int] = []
        labels: list[int] = []
        pos: list[int] = []
        for i in group:
            ex = examples[i]
            ids.extend(ex.input_ids)
            labels.extend(ex.labels)
            pos.extend(range(len(ex)))
        rows.append(Row(ids, labels, pos, len(group)))
    return rows


def collate(rows: Sequence[Row], pad_id: int):
    """Rows -> tensors (input_ids, position_ids, labels) padded to the longest row.

    Padding gets positions 0..k of its own, so the mask treats it as a separate segment that no
    real token attends to; its labels are ignored. Shapes: [B, L].
    """
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r)
        ids[b, :n] = torch.tensor(r.input_ids)
        labels[b, :n] = torch.tensor(r.labels)
        pos[b, :n] = torch.tensor(r.position_ids)
        pos[b, n:] = torch.arange(width - n)
    return ids, pos, labels


def fill_ratio(rows: Sequence[Row], capacity: int) -> float:
    """Share of row capacity holding real tokens (1.0 = no padding at all)."""
    return sum(len(r) for r in rows) / (capacity * len(rows)) if rows else 0.0
