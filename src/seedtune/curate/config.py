"""`CurateConfig`: the `curate` section of a run config; every field is a CLI override too.

    seedtune curate pool.jsonl out/ near_dup.threshold=0.6 length.max_output=500
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seedtune.config import StrictModel
from seedtune.lexicon import NON_TEXT_WORDS

# Cheapest first. minhash, embedding, llm-judge, consistency and ifd are opt-in: they need a large set, a model or
# a teacher to be worth their cost.
DEFAULT_FILTERS = [
    "empty-output", "output-equals-input", "truncated", "length", "keywords", "refusal",
    "language", "all-same-label", "exact", "near-dup-rouge", "decontamination",
]


class NearDupConfig(StrictModel):
    threshold: float = Field(0.7, ge=0.0, le=1.0, description="Drop when ROUGE-L F against a kept record is above this (Self-Instruct/Alpaca: 0.7).")
    field: Literal["instruction", "instruction+input"] = Field("instruction", description="Text compared: the instruction alone (Self-Instruct) or instruction plus input.")
    group_by_task: bool = Field(True, description="Records sharing a `task` are instances of one task: the first instance decides for the whole task.")


class ExactConfig(StrictModel):
    fields: list[Literal["system", "instruction", "input", "output"]] = Field(
        default_factory=lambda: ["instruction", "input"],
        description="Fields whose normalised text (lowercase, whitespace and punctuation collapsed) must match for a duplicate.")


class MinHashConfig(StrictModel):
    threshold: float = Field(0.8, gt=0.0, le=1.0, description="Estimated Jaccard similarity of shingles above which a record is a duplicate.")
    num_perm: int = Field(128, ge=16, description="MinHash permutations (more: better estimates, slower).")
    shingle: int = Field(3, ge=1, description="Shingle size in tokens (words on Latin text, characters on CJK).")
    field: Literal["instruction", "instruction+input", "all"] = Field("instruction+input", description="Text shingled.")
    seed: int = Field(1, description="MinHash seed (fixed so runs are reproducible).")


class EmbeddingConfig(StrictModel):
    threshold: float = Field(0.95, gt=-1.0, le=1.0, description="Cosine similarity above which a record duplicates a kept one.")
    model: str = Field("all-minilm-l6-v2", description="Sentence-embedding model: an embedded default name or a local path.")
    field: Literal["instruction", "instruction+input", "all"] = Field("instruction+input", description="Text embedded.")
    batch_size: int = Field(64, ge=1, description="Texts per encoder batch.")


class LengthConfig(StrictModel):
    unit: Literal["auto", "tokens"] = Field("auto", description="'auto': words on Latin text, characters on CJK; 'tokens': tokens of `tokenizer`.")
    tokenizer: str | None = Field(None, description="Model name or path whose tokenizer counts tokens when unit='tokens'.")
    min_instruction: int = Field(3, ge=0, description="Fewest units in instruction+input.")
    max_instruction: int = Field(400, ge=1, description="Most units in instruction+input.")
    min_output: int = Field(1, ge=0, description="Fewest units in the output (records without outputs are handled by empty-output).")
    max_output: int = Field(2000, ge=1, description="Most units in the output.")


class KeywordsConfig(StrictModel):
    words: list[str] = Field(
        default_factory=lambda: list(NON_TEXT_WORDS),
        description="Words or phrases a text-only model cannot satisfy (seedtune.lexicon: Self-Instruct's list plus Chinese, the list generation uses too). Latin ones match whole words.")
    extra: list[str] = Field(default_factory=list, description="More words to add to the default list.")
    fields: list[Literal["instruction", "input"]] = Field(default_factory=lambda: ["instruction"], description="Fields searched.")


class RefusalConfig(StrictModel):
    extra: list[str] = Field(default_factory=list, description="More refusal phrases (case-insensitive) to look for in outputs.")
    head_chars: int = Field(200, ge=1, description="Refusal phrases are looked for in the first this many characters of the output.")


class LanguageConfig(StrictModel):
    min_units: int = Field(4, ge=1, description="Outputs shorter than this (in words/characters) are not judged: too short to tell.")
    exempt_categories: list[str] = Field(default_factory=lambda: ["translation"], description="Categories exempt from the check.")


class TruncatedConfig(StrictModel):
    dangling_words: list[str] = Field(
        default_factory=lambda: ["and", "or", "the", "a", "an", "of", "to", "with", "for", "in", "that", "because", "but", "which"],
        description="An output ending on one of these words is cut off.")


class LabelConfig(StrictModel):
    min_instances: int = Field(3, ge=2, description="A classification task needs at least this many instances before 'all the same label' counts.")


class DecontamConfig(StrictModel):
    against: str | None = Field(None, description="Evaluation suite file to decontaminate against (any record format), or 'heldout' (default when unset): the shipped held-out suite.")
    ngram: int = Field(13, ge=1, description="n-gram length for overlap over instruction + input + output (13, as in GPT-3's contamination analysis); the rule is seedtune.overlap's, shared with eval.")
    short_tokens: int = Field(20, ge=1, description="Instructions with at most this many tokens are also compared by ROUGE-L.")
    rouge_threshold: float = Field(0.7, ge=0.0, le=1.0, description="ROUGE-L F against a suite instruction at or above which a short instruction is contaminated.")


class JudgeConfig(StrictModel):
    teacher: str | None = Field(None, description="Teacher string for the judge (hf:NAME, openai:MODEL, vllm:NAME).")
    base_url: str | None = Field(None, description="Endpoint for openai-compatible judges.")
    threshold: int = Field(3, ge=1, le=5, description="Keep records the judge scores at least this (1-5).")
    language: Literal["auto", "en", "zh"] = Field("auto", description="Rubric language: 'auto' follows each record's language.")
    max_tokens: int = Field(256, ge=16, description="Tokens the judge may write.")
    on_parse_error: Literal["keep", "drop"] = Field("keep", description="What to do with a record whose judgement has no readable score (always counted).")
    prices: str | dict[str, dict[str, float]] | None = Field(None, description="Price table {model: {input: $/1M, output: $/1M}} (inline or a YAML file) for the judge's cost.")
    max_cost: float | None = Field(None, gt=0, description="Hard budget for the judge: a request that could cross it is not sent, and curation stops with what it spent.")
    check: int = Field(20, ge=0, description="Known pairs from the shipped held-out suite the judge is tested on before it may drop anything (0: no check).")
    on_unreliable: Literal["refuse", "warn"] = Field("refuse", description="A judge that fails its check: stop before dropping anything ('refuse'), or run it with a loud warning in funnel.json ('warn').")
    chunk_size: int = Field(64, ge=1, description="Records judged per teacher call; each finished chunk is kept in the request cache, so a killed run resumes there.")
    cache: str | None = Field(None, description="Request cache file (SQLite) for the judge's answers; default: the shared seedtune cache.")
    batch_size: int | None = Field(None, ge=1, description="Sequences per forward batch (local judges).")
    dtype: str | None = Field(None, description="Weights dtype for local judges: float32 (default) or bfloat16.")


class ConsistencyConfig(StrictModel):
    teacher: str = Field("hf:smollm2-135m-instruct", description="Teacher asked the same question k times (hf:NAME, openai:MODEL, vllm:NAME).")
    base_url: str | None = Field(None, description="Endpoint for openai-compatible teachers.")
    batch_size: int = Field(16, ge=1, description="Sequences per forward batch (hf: teachers).")
    dtype: str | None = Field(None, description="Weights dtype for hf: teachers (float32 default, or bfloat16).")
    cache: str | None = Field(None, description="Request cache file; default: the seedtune cache directory.")
    k: int = Field(5, ge=2, description="Samples per question.")
    temperature: float = Field(0.7, gt=0, description="Sampling temperature of the samples.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus mass of the samples.")
    seed: int = Field(0, description="Mixed into each question's seed (which follows the record's content).")
    short_max_units: int = Field(8, ge=1, description="Answers up to this many words (CJK: characters) count as short: compared by exact match after normalisation.")
    rouge_threshold: float = Field(0.15, ge=0.0, le=1.0, description="A sample agrees with a long answer when their ROUGE-L F is at least this. Sampled answers of the 135M teacher to one question score 0.1-0.35 against each other; on the quickstart pool 0.15 dropped all its nonsense and 3 of 23 Magpie records, 0.3 dropped 21 of 23.")
    min_agreement: float = Field(0.5, ge=0.0, le=1.0, description="Keep a record when at least this share of the samples agree with its answer.")
    short_max_tokens: int = Field(48, ge=1, description="Token budget of a sample for a short answer.")
    max_tokens: int = Field(256, ge=1, description="Token budget of a sample for a long answer.")


class IFDConfig(StrictModel):
    model: str = Field("smollm2-135m-instruct", description="Causal LM whose losses are compared (the student you will train is the paper's choice).")
    dtype: str | None = Field(None, description="Weights dtype (float32 default, or bfloat16).")
    threshold: float = Field(1.0, gt=0.0, description="Drop when loss(answer | instruction) / loss(answer) is at least this.")


class CurateConfig(StrictModel):
    """The curation funnel: which filters, in which order, with which settings."""

    filters: list[str] = Field(default_factory=lambda: list(DEFAULT_FILTERS), description="Filters to run, by name (see `seedtune curate --list-filters`).")
    order: Literal["cost", "as-given"] = Field("cost", description="'cost': cheapest first (stable); 'as-given': exactly the order of `filters`.")
    input_format: str | None = Field(None, description="Input format; detected from the file when unset.")
    on_error: Literal["raise", "skip"] = Field("raise", description="Bad input rows: stop with the file/line/field ('raise') or skip them into rejected.jsonl in the output folder ('skip').")
    trusted_sources: list[str] = Field(
        default_factory=lambda: ["seed"],
        description="Records from these sources (e.g. hand-written seed tasks; add 'human' to trust files without "
                    "provenance, which read as source 'human') skip the heuristic filters meant for teacher "
                    "output (length, keywords, refusal, language, truncated, output-equals-input, all-same-label, "
                    "llm-judge); deduplication and decontamination still apply. [] filters everything alike.")
    report: bool = Field(True, description="Write the diversity report (Markdown + PNG) of the kept records.")
    exact: ExactConfig = Field(default_factory=ExactConfig, description="exact duplicates.")
    near_dup: NearDupConfig = Field(default_factory=NearDupConfig, description="near-dup-rouge.")
    minhash: MinHashConfig = Field(default_factory=MinHashConfig, description="minhash.")
    embedding: EmbeddingConfig = Field(default_factory=EmbeddingConfig, description="embedding.")
    length: LengthConfig = Field(default_factory=LengthConfig, description="length.")
    keywords: KeywordsConfig = Field(default_factory=KeywordsConfig, description="keywords.")
    refusal: RefusalConfig = Field(default_factory=RefusalConfig, description="refusal.")
    language: LanguageConfig = Field(default_factory=LanguageConfig, description="language.")
    truncated: TruncatedConfig = Field(default_factory=TruncatedConfig, description="truncated.")
    labels: LabelConfig = Field(default_factory=LabelConfig, description="all-same-label.")
    decontamination: DecontamConfig = Field(default_factory=DecontamConfig, description="decontamination.")
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="llm-judge.")
    consistency: ConsistencyConfig = Field(default_factory=ConsistencyConfig, description="consistency.")
    ifd: IFDConfig = Field(default_factory=IFDConfig, description="ifd.")
