"""Deduplication filters: exact, near-duplicate by ROUGE-L, MinHash LSH, embedding cosine.

All walk the records in order and keep the first of each group, so the result is the same
whatever the machine, and earlier (e.g. seed or human) records win over later generated ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from seedtune.curate.base import Dropped, FilterResult, preview, register_filter
from seedtune.lexicon import join_instruction, normalise
from seedtune.records import Record
from seedtune.textsim import NoveltyIndex, tokenize


def field_text(record: Record, field: str) -> str:
    if field == "instruction":
        return record.instruction
    if field == "instruction+input":
        return join_instruction(record.instruction, record.input)
    return "\n".join(t for t in (record.instruction, record.input, record.output) if t)


class Exact:
    name, cost = "exact", 2

    def __init__(self, fields: Sequence[str] = ("instruction", "input")):
        self.fields = list(fields)

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        seen: dict[tuple[str, ...], Record] = {}
        result = FilterResult(kept=[])
        for r in records:
            key = tuple(normalise(getattr(r, f) or "") for f in self.fields)
            first = seen.get(key)
            if first is None:
                seen[key] = r
                result.kept.append(r)
            else:
                result.dropped.append(Dropped(r, self.name, f"same {'+'.join(self.fields)} as {first.id}", 1.0))
        return result


class NearDupRouge:
    """Self-Instruct's rule, exact and fast: keep a record only if the ROUGE-L F of its text
    against every kept text is <= threshold (see `NoveltyIndex` for how pairs are pruned)."""

    name, cost = "near-dup-rouge", 5

    def __init__(self, threshold: float = 0.7, field: str = "instruction", group_by_task: bool = True):
        self.threshold = threshold
        self.field = field
        self.group_by_task = group_by_task

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        index = NoveltyIndex(self.threshold)
        texts = [field_text(r, self.field) for r in records]
        index.prime(texts)
        owners: list[Record] = []  # index position -> record that put the text there
        task_verdict: dict[str, tuple[bool, float, int | None]] = {}
        result = FilterResult(kept=[])
        for r, text in zip(records, texts):
            if self.group_by_task and r.task and r.task in task_verdict:
                kept, score, nearest = task_verdict[r.task]
            else:
                kept, score, nearest = index.check_and_add(text)
                if kept:
                    owners.append(r)
                if self.group_by_task and r.task:
                    task_verdict[r.task] = (kept, score, nearest)
            if kept:
                scores = dict(r.scores)
                scores["rouge_l_max"] = round(score, 4)
                result.kept.append(r.model_copy(update={"scores": scores}))
            else:
                other = owners[nearest] if nearest is not None else None
                what = f"{other.id} ({preview(other.instruction, 50)!r})" if other else "a kept record"
                result.dropped.append(Dropped(r, self.name, f"ROUGE-L {score:.3f} > {self.threshold} with {what}", round(score, 4)))
        return result


def shingles(text: str, size: int) -> set[str]:
    toks = tokenize(text)
    if len(toks) < size:
        return {" ".join(toks)} if toks else set()
    return {" ".join(toks[i : i + size]) for i in range(len(toks) - size + 1)}


class MinHashDedup:
    """MinHash LSH (datasketch) for sets too large even for the pruned ROUGE-L pass."""

    name, cost = "minhash", 4

    def __init__(self, threshold: float = 0.8, num_perm: int = 128, shingle: int = 3,
                 field: str = "instruction+input", seed: int = 1):
        self.threshold, self.num_perm, self.shingle, self.field, self.seed = threshold, num_perm, shingle, field, seed

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        from datasketch import MinHash, MinHashLSH

        lsh = MinHashLSH(threshold=self.threshold, num_perm=self.num_perm)
        sketches: dict[str, tuple[MinHash, Record]] = {}
        result = FilterResult(kept=[])
        for i, r in enumerate(records):
            m = MinHash(num_perm=self.num_perm, seed=self.seed)
            for s in shingles(field_text(r, self.field), self.shingle):
                m.update(s.encode("utf-8"))
            # LSH returns likely matches; confirm each with the estimated Jaccard itself.
            best, match = 0.0, None
            for key in lsh.query(m):
                sim = m.jaccard(sketches[key][0])
                if sim > best:
                    best, match = sim, sketches[key][1]
            if match is not None and best >= self.threshold:
                result.dropped.append(Dropped(r, self.name, f"estimated Jaccard {best:.2f} >= {self.threshold} with {match.id}", round(best, 4)))
                continue
            key = str(i)
            lsh.insert(key, m)
            sketches[key] = (m, r)
            result.kept.append(r)
        return result


Encoder = Callable[[list[str]], np.ndarray]


def sentence_encoder(model: str, batch_size: int = 64) -> Encoder:
    """A sentence-transformers encoder on an embedded default or local model (unit vectors out)."""
    from sentence_transformers import SentenceTransformer

    from seedtune.models import resolve_model

    st = SentenceTransformer(str(resolve_model(model)), device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return st.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                         show_progress_bar=False)

    return encode


class EmbeddingDedup:
    """Drop a record whose embedding has cosine > threshold with a kept one (paraphrases that
    share few words, which ROUGE-L misses)."""

    name, cost = "embedding", 8

    def __init__(self, encoder: Encoder, threshold: float = 0.95, field: str = "instruction+input", block: int = 512):
        self.encode, self.threshold, self.field, self.block = encoder, threshold, field, block

    def __call__(self, records: Sequence[Record]) -> FilterResult:
        result = FilterResult(kept=[])
        if not records:
            return result
        vecs = np.asarray(self.encode([field_text(r, self.field) for r in records]), dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        vecs = vecs / np.where(norms == 0, 1, norms)
        kept_vecs = np.empty((0, vecs.shape[1]), dtype=np.float32)
        kept_records: list[Record] = []
        # Blocks: one matrix product against everything kept before the block, then a greedy
        # pass inside the block with its own (block x block) similarities.
        for start in range(0, len(records), self.block):
            block = vecs[start : start + self.block]
            against_old = block @ kept_vecs.T if len(kept_vecs) else np.zeros((len(block), 0), np.float32)
            inner = block @ block.T
            chosen: list[int] = []
            for j in range(len(block)):
                r = records[start + j]
                best, match = -1.0, None
                if against_old.shape[1]:
                    k = int(np.argmax(against_old[j]))
                    best, match = float(against_old[j, k]), kept_records[k]
                if chosen:
                    sims = inner[j, chosen]
                    k = int(np.argmax(sims))
                    if sims[k] > best:
                        best, match = float(sims[k]), records[start + chosen[k]]
                if match is not None and best > self.threshold:
                    result.dropped.append(Dropped(r, self.name, f"cosine {best:.3f} > {self.threshold} with {match.id}", round(best, 4)))
                else:
                    chosen.append(j)
                    result.kept.append(r)
            if chosen:
                kept_vecs = np.vstack([kept_vecs, block[chosen]])
                kept_records.extend(records[start + j] for j in chosen)
        return result


@register_filter("exact", "exact duplicates of normalised instruction+input")
def _exact(config: Any, deps: dict[str, Any]) -> Exact:
    return Exact(config.exact.fields)


@register_filter("near-dup-rouge", "ROUGE-L F > threshold (0.7) against a kept instruction (Self-Instruct rule)")
def _near(config: Any, deps: dict[str, Any]) -> NearDupRouge:
    c = config.near_dup
    return NearDupRouge(c.threshold, c.field, c.group_by_task)


@register_filter("minhash", "MinHash LSH near-duplicates (very large sets)")
def _minhash(config: Any, deps: dict[str, Any]) -> MinHashDedup:
    c = config.minhash
    return MinHashDedup(c.threshold, c.num_perm, c.shingle, c.field, c.seed)


@register_filter("embedding", "embedding cosine near-duplicates (all-minilm-l6-v2)")
def _embedding(config: Any, deps: dict[str, Any]) -> EmbeddingDedup:
    c = config.embedding
    encoder = deps.get("encoder") or sentence_encoder(c.model, c.batch_size)
    return EmbeddingDedup(encoder, c.threshold, c.field)
