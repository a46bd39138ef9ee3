"""Preference pairs: every layout reads to the same pair, writes back, and bad rows are located."""

from __future__ import annotations

import json

import pytest

from seedtune.errors import InputError
from seedtune.formats.pairs import Pair, pair_from_row, pair_to_row, read_pairs, read_pairs_with_report, write_pairs

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Name a colour."}


def test_text_trl_and_ultrafeedback_layouts_give_the_same_pair():
    ours = pair_from_row({"instruction": "Name a colour.", "system": "Be brief.", "chosen": "Red.", "rejected": "Dog."})
    standard = pair_from_row({"prompt": "Name a colour.", "system": "Be brief.", "chosen": "Red.", "rejected": "Dog."})
    trl = pair_from_row({"prompt": [SYSTEM, USER], "chosen": [{"role": "assistant", "content": "Red."}],
                         "rejected": [{"role": "assistant", "content": "Dog."}]})
    uf = pair_from_row({"prompt": "Name a colour.", "prompt_id": "x1", "score_chosen": 8.0, "score_rejected": 2.0,
                        "chosen": [SYSTEM, USER, {"role": "assistant", "content": "Red."}],
                        "rejected": [SYSTEM, USER, {"role": "assistant", "content": "Dog."}]})
    implicit = pair_from_row({"chosen": [SYSTEM, USER, {"role": "assistant", "content": "Red."}],
                              "rejected": [SYSTEM, USER, {"role": "assistant", "content": "Dog."}]})
    assert ours.id == standard.id == trl.id == uf.id == implicit.id
    assert uf.meta["extra"] == {"prompt_id": "x1", "score_chosen": 8.0, "score_rejected": 2.0}
    rec = trl.chosen_record()
    assert (rec.system, rec.instruction, rec.output) == ("Be brief.", "Name a colour.", "Red.")
    assert trl.rejected_record().output == "Dog."


def test_multi_turn_prompt_is_kept_as_messages():
    turns = [USER, {"role": "assistant", "content": "Red."}, {"role": "user", "content": "Another?"}]
    pair = pair_from_row({"chosen": [*turns, {"role": "assistant", "content": "Blue."}],
                          "rejected": [*turns, {"role": "assistant", "content": "No."}]})
    assert [m.role for m in pair.messages] == ["user", "assistant", "user"]
    rec = pair.chosen_record()
    assert rec.messages[-1].content == "Blue." and rec.conversation()[-2]["content"] == "Another?"


@pytest.mark.parametrize("layout", ["text", "trl", "messages"])
def test_write_read_roundtrip_every_layout(tmp_path, layout):
    pairs = [Pair(instruction="Translate: cat", input="", chosen="chat", rejected="chien", margin=0.5, how="reference",
                  meta={"scores": [1.0, 0.5]}),
             Pair(instruction="列出三种水果。", system="简短回答。", chosen="苹果、香蕉、梨。", rejected="不知道。", how="judge")]
    path = tmp_path / f"pairs-{layout}.jsonl"
    assert write_pairs(path, pairs, layout=layout) == 2
    back = read_pairs(path)
    assert [p.id for p in back] == [p.id for p in pairs]
    assert back[0].margin == 0.5 and back[0].how == "reference" and back[0].meta["scores"] == [1.0, 0.5]
    assert back[1].lang == "zh"
    row = pair_to_row(pairs[1], layout)
    if layout == "trl":
        assert row["prompt"][0] == {"role": "system", "content": "简短回答。"}
        assert row["chosen"] == [{"role": "assistant", "content": "苹果、香蕉、梨。"}]
    if layout == "messages":
        assert row["prompt"] == "列出三种水果。" and row["chosen"][-1]["content"] == "苹果、香蕉、梨。"
    array = tmp_path / "pairs.json"
    write_pairs(array, pairs, layout=layout)
    assert json.loads(array.read_text())[0]["chosen"] and [p.id for p in read_pairs(array)] == [p.id for p in pairs]


def test_parquet_pairs_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "uf.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "Hi?", "chosen": [{"role": "user", "content": "Hi?"},
                                                                      {"role": "assistant", "content": "Hello!"}],
                                          "rejected": [{"role": "user", "content": "Hi?"},
                                                       {"role": "assistant", "content": "..."}]}]), path)
    [pair] = read_pairs(path)
    assert (pair.instruction, pair.chosen, pair.rejected) == ("Hi?", "Hello!", "...")


def test_bad_rows_name_line_and_field_or_are_skipped(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [{"instruction": "ok", "chosen": "a", "rejected": "b"},
            {"instruction": "no rejected", "chosen": "a"},
            {"chosen": [USER, {"role": "assistant", "content": "a"}],
             "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "b"}]},
            {"chosen": [USER], "rejected": [USER]},
            {"chosen": "a", "rejected": "b"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    with pytest.raises(InputError) as err:
        read_pairs(path)
    assert err.value.line == 2 and err.value.field == "rejected"
    pairs, report = read_pairs_with_report(path, on_error="skip")
    assert len(pairs) == 1 and [r.line for r in report.rejected] == [2, 3, 4, 5]
    reasons = [r.reason for r in report.rejected]
    assert "ambiguous" in reasons[1] and "end with the assistant" in reasons[2] and "needs a prompt" in reasons[3]
    assert report.rejected_path.exists()
