"""Each curation filter with one record it keeps and one it drops (with a reason)."""

from __future__ import annotations

import numpy as np
import pytest

from seedtune.curate import CurateConfig, build_filter, filter_names
from seedtune.curate.decontam import Decontaminate
from seedtune.curate.dedup import EmbeddingDedup
from seedtune.curate.diversity import verb_object
from seedtune.curate.judge import LLMJudge, parse_judgement
from seedtune.errors import ConfigError, SeedtuneError
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher


def R(instruction: str, output: str = "A fine and complete answer.", **kw) -> Record:  # noqa: N802
    return Record(instruction=instruction, output=output, **kw)


def run(name: str, records: list[Record], **deps) -> tuple[list[Record], list]:
    f = build_filter(name, CurateConfig(), deps)
    out = f(records)
    assert len(out.kept) + len(out.dropped) == len(records)
    for d in out.dropped:
        assert d.filter == name and d.reason
    return out.kept, out.dropped


CASES = [
    # (filter, kept record, dropped record, words expected in the reason)
    ("empty-output", R("Name a fruit."), R("Name a fruit.", output="  "), "empty"),
    ("output-equals-input", R("Fix the typo.", input="teh cat"), R("Fix the typo.", input="teh cat", output=" teh  cat "), "repeats"),
    ("truncated", R("Explain rain.", output="Water falls from clouds."),
     R("Explain rain.", output="Water evaporates and then it falls from the"), "mid-sentence"),
    ("length", R("Explain how rain forms."), R("Hi"), "instruction+input has"),
    ("keywords", R("Summarize the mapping of genes."), R("Draw a map of Paris."), "text-only"),
    ("refusal", R("Tell a story.", output="The robot said: I cannot sleep tonight, and it sang."),
     R("Tell a story.", output="As an AI language model, I cannot tell stories."), "refuses"),
    ("refusal", R("讲个故事。", output="从前有一座山，山上有一座庙。"), R("讲个故事。", output="抱歉，我无法讲故事。"), "refuses"),
    ("language", R("Translate to Chinese: good morning", output="早上好，今天天气很好"),
     R("Explain why the sky is blue.", output="天空是蓝色的，因为瑞利散射使蓝光散射得更多。"), "output is zh"),
]


@pytest.mark.parametrize("name,keep,drop,why", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_filter_keeps_one_and_drops_one(name: str, keep: Record, drop: Record, why: str) -> None:
    kept, dropped = run(name, [keep, drop])
    assert kept == [keep]
    assert [d.record for d in dropped] == [drop]
    assert why in dropped[0].reason


def test_exact_normalises_case_space_and_punctuation() -> None:
    a, b, c = R("Write a poem."), R("  write A poem!! "), R("Write a haiku.")
    kept, dropped = run("exact", [a, b, c])
    assert kept == [a, c] and dropped[0].record == b and a.id in dropped[0].reason


def test_near_dup_rouge_drops_above_threshold_and_names_the_match() -> None:
    a = R("Write a short poem about the sea at night.")
    b = R("Write a short poem about the sea at dawn.")  # F = 8/9 > 0.7
    c = R("Explain how vaccines train the immune system.")
    kept, dropped = run("near-dup-rouge", [a, b, c])
    assert [r.instruction for r in kept] == [a.instruction, c.instruction]
    assert dropped[0].record == b and dropped[0].score == pytest.approx(8 / 9, abs=1e-4)
    assert a.id in dropped[0].reason
    assert kept[1].scores["rouge_l_max"] <= 0.7


def test_near_dup_rouge_chinese_and_task_groups() -> None:
    a = R("请写一首关于春天的诗。", task="t1")
    a2 = R("请写一首关于春天的诗。", task="t1", output="另一个实例")  # same task: decided once, kept
    b = R("请写一首关于秋天的诗。")  # one character differs: near-duplicate
    kept, dropped = run("near-dup-rouge", [a, a2, b])
    assert kept[0].id == a.id and kept[1].id == a2.id and [d.record for d in dropped] == [b]


def test_minhash_drops_reworded_copy() -> None:
    a = R("Write a detailed travel itinerary for three days in Kyoto with temples and food markets")
    b = R("Write a detailed travel itinerary for three days in Kyoto with temples and food markets please")
    c = R("List five ways to reduce household energy use in winter")
    kept, dropped = run("minhash", [a, b, c])
    assert kept == [a, c] and dropped[0].record == b and "Jaccard" in dropped[0].reason


def test_embedding_with_injected_encoder() -> None:
    vectors = {"cats are great pets": [1.0, 0.0], "felines make wonderful companions": [0.99, 0.05],
               "how do tides work": [0.0, 1.0]}
    encoder = lambda texts: np.array([vectors[t] for t in texts])  # noqa: E731
    records = [R(t) for t in vectors]
    out = EmbeddingDedup(encoder, threshold=0.95, block=2)(records)  # block=2: crosses a block boundary
    assert [r.instruction for r in out.kept] == ["cats are great pets", "how do tides work"]
    assert "cosine" in out.dropped[0].reason and out.dropped[0].score > 0.95
    kept, dropped = run("embedding", records, encoder=encoder)
    assert len(kept) == 2 and len(dropped) == 1


def test_all_same_label() -> None:
    same = [R("Is this spam?", input=f"msg {i}", output="Spam", is_classification=True, task="spam") for i in range(3)]
    mixed = [R("Positive or negative?", input=f"text {i}", output=lab, is_classification=True, task="sent")
             for i, lab in enumerate(["Positive", "Negative", "Positive"])]
    kept, dropped = run("all-same-label", same + mixed)
    assert kept == mixed and [d.record for d in dropped] == same
    assert "'Spam'" in dropped[0].reason


def test_decontamination_ngram_and_short_rouge() -> None:
    suite = [Record(instruction="Summarize the article in one sentence.",
                    input="The city council voted on Tuesday to build a new public library next to the old train station downtown.",
                    output="The council approved a new library.", task="suite-sum")]
    f = Decontaminate(suite, ngram=13, short_tokens=20, rouge_threshold=0.7)
    leaked = R("Rewrite this.", input="Yesterday the city council voted on Tuesday to build a new public library next to the old train station")
    short = R("Summarize the article in a sentence.")
    clean = R("Write a haiku about autumn leaves.")
    out = f([leaked, short, clean])
    assert out.kept == [clean]
    reasons = [d.reason for d in out.dropped]
    assert "13-gram" in reasons[0] and "suite-sum" in reasons[0]
    assert "ROUGE-L" in reasons[1]


def test_decontamination_against_the_shipped_suite_or_a_file(tmp_path) -> None:
    from seedtune.formats import write_records

    suite_file = tmp_path / "suite.jsonl"
    write_records(suite_file, [Record(instruction="Name the capital city of the given country.", input="France", output="Paris")])
    cfg = CurateConfig.model_validate({"decontamination": {"against": str(suite_file)}})
    f = build_filter("decontamination", cfg)
    out = f([R("Name the capital city of the given country."), R("Write a limerick about a frog.")])
    assert len(out.dropped) == 1 and str(suite_file) in out.dropped[0].reason


def test_llm_judge_scores_keeps_reason_and_counts_parse_failures() -> None:
    teacher = ScriptedTeacher(["Score: 5\nReason: Accurate and clear.", "**Score:** 2/5\nReason: Misses the point.",
                               "I like it a lot!", "评分：4\n理由：回答正确。"])
    records = [R("Explain tides."), R("Explain rain."), R("Explain snow."), R("解释潮汐。", output="潮汐是由月球引力引起的。")]
    judge = LLMJudge(teacher, threshold=3)
    out = judge(records)
    assert [r.instruction for r in out.kept] == ["Explain tides.", "Explain snow.", "解释潮汐。"]
    assert out.kept[0].kept_reason == "judge 5/5: Accurate and clear." and out.kept[0].scores["judge"] == 5.0
    assert out.dropped[0].score == 2.0 and "Misses the point" in out.dropped[0].reason
    assert judge.parse_failures == 1 and out.kept[1].meta["judge"]["score"] is None
    assert "指令" in teacher.seen[3].messages[-1][1]  # Chinese record got the Chinese rubric
    assert "Instruction:" in teacher.seen[0].messages[-1][1]


def test_parse_judgement_variants() -> None:
    assert parse_judgement("Rating: 4 out of 5. Reason: fine")[0] == 4
    assert parse_judgement("3")[0] == 3
    assert parse_judgement("no idea")[0] is None


CHECK = [Record(instruction=f"Task {i}.", input=f"wrong answer {i}", output=f"RIGHT answer {i}", task=f"t{i}")
         for i in range(8)]


def _oracle(request) -> str:
    """A judge that knows the right answers: picks whichever pair answer says RIGHT, rates 4."""
    prompt = request.messages[-1][1]
    if "RIGHT" not in prompt:
        return "Score: 4\nReason: fine."
    return "[[A]]" if prompt.index("RIGHT") < prompt.rindex("wrong") else "[[B]]"


def test_llm_judge_is_checked_first_and_refuses_when_it_fails() -> None:
    records = [R("Explain tides."), R("Explain rain.")]
    bad = ScriptedTeacher(default="Score: 1\nReason: Not helpful.")  # no pair verdicts: chance level
    judge = LLMJudge(bad, threshold=3, check=8, check_records=CHECK)
    with pytest.raises(SeedtuneError, match="known-right answer in 50%") as err:
        judge(records)
    assert "on_unreliable=warn" in err.value.hint
    assert all("Explain" not in r.messages[-1][1] for r in bad.seen)  # nothing was rated, nothing dropped
    warned = LLMJudge(ScriptedTeacher(default="Score: 1\nReason: Not helpful."), check=8, check_records=CHECK,
                      on_unreliable="warn")
    assert len(warned(records).dropped) == 2 and "50%" in warned.stats()["warning"]
    good = LLMJudge(ScriptedTeacher(default=_oracle), check=8, check_records=CHECK, chunk_size=1)
    out = good(records)
    assert len(out.kept) == 2 and good.stats()["check"]["reliable"] and good.stats()["check"]["n"] == 8


def test_llm_judge_from_config_goes_through_the_request_cache(tmp_path) -> None:
    from seedtune.teachers import register

    made: list[ScriptedTeacher] = []

    def factory(name, base_url=None, **kw):
        made.append(ScriptedTeacher(default=_oracle, model_id=f"plugin:{name}"))
        return made[-1]

    register("plugin-judge", factory)
    cfg = CurateConfig.model_validate({"filters": ["llm-judge"], "report": False, "judge": {
        "teacher": "plugin-judge:x", "cache": str(tmp_path / "c.sqlite"), "chunk_size": 2,
        "on_unreliable": "warn"}})  # checked on the shipped suite, whose answers this oracle does not know
    records = [R(f"Explain thing {i}.") for i in range(5)]
    first = build_filter("llm-judge", cfg)
    assert len(first(records).kept) == 5 and first.stats()["check"]["n"] == 20
    assert first.stats()["requests"]["cache_misses"] == 5 + 2 * 20
    again = build_filter("llm-judge", cfg)  # a rerun asks the teacher nothing
    again(records)
    assert again.stats()["requests"]["cache_misses"] == 0 and len(made[-1].seen) == 0


def test_judge_without_teacher_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="judge"):
        build_filter("llm-judge", CurateConfig())


def test_unknown_filter_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match="near-dup-rouge"):
        build_filter("near-dup", CurateConfig())
    assert "near-dup-rouge" in filter_names()


@pytest.mark.parametrize("text,expected", [
    ("Write a short poem about the sea.", ("write", "poem")),
    ("Please give me three tips for sleeping better.", ("give", "tips")),
    ("What is the capital of France?", ("what", "")),
    ("Generate a list of ideas for a party.", ("generate", "ideas")),
    ("请写一首关于春天的诗。", ("写", "诗")),
    ("帮我总结这篇文章的要点", ("总结", "这篇文章")),
])
def test_verb_object(text: str, expected: tuple[str, str]) -> None:
    assert verb_object(text) == expected


@pytest.mark.slow
def test_embedding_with_the_real_embedded_model() -> None:
    """all-minilm-l6-v2 through seedtune.models: a paraphrase is dropped, a new topic kept."""
    records = [R("How do I bake sourdough bread at home?"), R("How can I make sourdough bread at home?"),
               R("Explain the rules of chess castling.")]
    cfg = CurateConfig.model_validate({"embedding": {"threshold": 0.9}})
    f = build_filter("embedding", cfg)
    out = f(records)
    assert [r.instruction for r in out.kept] == [records[0].instruction, records[2].instruction]
    assert out.dropped[0].score > 0.9
