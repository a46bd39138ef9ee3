"""Judge-free filters: self-consistency with scripted agreeing/disagreeing samples, and IFD."""

from __future__ import annotations

import json

from seedtune.cache import CachedTeacher, RequestCache
from seedtune.curate import CurateConfig, curate
from seedtune.curate.consistency import Consistency, InstructionFollowingDifficulty, agrees, lm_loss
from seedtune.records import Record
from seedtune.teachers import ScriptedTeacher


def test_agreement_rules():
    assert agrees("Paris", "paris.", 8, 0.3)
    assert agrees("4", "2 + 2 = 4. That is basic arithmetic.", 8, 0.3)
    assert not agrees("4", "The answer is 5. Not 4 as some say.", 8, 0.3)  # only the first sentence states it
    assert not agrees("37.8", "The sale price would be $20.", 8, 0.3)
    long = "Water boils at one hundred degrees Celsius at sea level because the vapour pressure equals the air pressure"
    assert agrees(long, "At sea level water boils at one hundred degrees Celsius since vapour pressure equals air pressure", 8, 0.3)
    assert not agrees(long, "Bananas are yellow fruits rich in potassium and they grow in tropical places", 8, 0.3)


def _teacher(answers: dict[str, list[str]]) -> ScriptedTeacher:
    """Samples per question text; each sample call pops the next one."""
    queues = {q: iter(a) for q, a in answers.items()}
    return ScriptedTeacher(default=lambda req: next(queues[req.messages[-1][1]]))


def test_keeps_agreeing_drops_disagreeing_with_score(tmp_path):
    teacher = _teacher({
        "What is the capital of France?": ["Paris.", "Paris", "The capital is Lyon.", "Paris is the capital.", "paris"],
        "What is the sale price of a shirt?\n\n25": ["$20", "It depends on the discount.", "25", "$22.50", "I need more details."],
    })
    good = Record(instruction="What is the capital of France?", output="Paris", source="self-instruct")
    bad = Record(instruction="What is the sale price of a shirt?", input="25", output="37.8", source="self-instruct")
    seed = Record(instruction="Name a colour.", output="Blue", source="seed")  # trusted: never asked
    config = CurateConfig(filters=["consistency"], report=False)
    result = curate([good, bad, seed], tmp_path / "out", config, teacher=teacher)
    assert [r.instruction for r in result.kept] == [good.instruction, seed.instruction]
    assert result.kept[0].scores["consistency"] == 0.8
    rows = [json.loads(line) for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    assert rows[0]["filter"] == "consistency" and rows[0]["score"] == 0.0
    assert rows[0]["reason"].startswith("agreement 0.00 < 0.5: 0 of 5 teacher samples agree (exact match)")
    assert len(teacher.seen) == 2 and all(r.n == 5 and r.temperature > 0 for r in teacher.seen)


def test_threshold_is_configurable_and_samples_are_cached(tmp_path):
    answers = ["Paris", "Lyon", "Paris", "Nice", "Marseille"]  # 2 of 5 agree
    record = Record(instruction="What is the capital of France?", output="Paris", source="magpie")
    cache = RequestCache(tmp_path / "c.sqlite")
    strict = Consistency(CachedTeacher(ScriptedTeacher(answers), cache), k=5)
    assert not strict([record]).kept
    lenient = Consistency(CachedTeacher(ScriptedTeacher(), cache), k=5, min_agreement=0.4)  # no replies: cache only
    assert lenient([record]).kept[0].scores["consistency"] == 0.4


def test_ifd_drops_answers_the_instruction_does_not_explain():
    def loss(prompt: str, target: str) -> float:  # scripted: the instruction helps only for the good record
        return 1.0 if "capital" in prompt else 2.0

    ifd = InstructionFollowingDifficulty(loss, lambda r: (r.instruction, r.output), threshold=1.0)
    good = Record(instruction="What is the capital of France?", output="Paris")
    bad = Record(instruction="Is this sentence correct?", output="77.")
    out = ifd([good, bad])
    assert [r.output for r in out.kept] == ["Paris"] and out.kept[0].scores["ifd"] == 0.5
    assert out.dropped[0].score == 1.0 and "no easier to predict" in out.dropped[0].reason


def test_lm_loss_on_tiny_model_prefers_a_copyable_target():
    from seedtune.testing import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer()
    loss = lm_loss(tiny_model(tokenizer), tokenizer)
    value = loss("Translate the following sentence to French.", "J'aime manger des pommes.")
    assert value > 0 and loss("", "J'aime manger des pommes.") > 0


def test_lm_loss_scores_every_answer_token_even_without_bos():
    import torch

    from seedtune.testing import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer()  # like SmolLM2: the tokenizer adds nothing before the text
    model = tiny_model(tokenizer)
    target = tokenizer("Paris", add_special_tokens=False)["input_ids"]
    ids = [tokenizer.eos_token_id, *target]  # every answer token is predicted, the first from EOS
    expected = torch.nn.functional.cross_entropy(model(torch.tensor([ids])).logits[0, :-1].float(),
                                                 torch.tensor(ids[1:])).item()
    assert abs(lm_loss(model, tokenizer)("", "Paris") - expected) < 1e-4
