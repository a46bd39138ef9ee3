"""On-policy pairs from a real instruct model scored by the checkers, then DPO on that model (slow:
the embedded SmolLM2-135M-Instruct, a few prompts and steps)."""

from __future__ import annotations

import json

import pytest

from seedtune.generate.common import TeacherConfig
from seedtune.generate.preferences import PreferencesConfig, preferences
from seedtune.records import Record

NO_COMMA = {"id": "punctuation:no_comma", "kwargs": {}}


@pytest.mark.slow
def test_smollm2_pairs_from_checkers_then_dpo(tmp_path):
    from seedtune.formats.pairs import Pair, read_pairs, write_pairs
    from seedtune.train import TrainConfig, train

    topics = ["cats", "rain", "bread", "trains"]
    records = [Record(instruction=f"Write one short sentence about {t}. Do not use any commas.",
                      meta={"constraints": [NO_COMMA]}) for t in topics]
    config = PreferencesConfig(teacher=TeacherConfig(teacher="hf:smollm2-135m-instruct", batch_size=8,
                                                     cache=str(tmp_path / "c.sqlite")),
                               n=4, max_tokens=48, routes=["checkers"])
    summary = preferences(records, tmp_path / "pairs.jsonl", config, progress=False)
    assert summary["accepted"] + summary["rejected"] == len(records)
    print("pairs:", summary["accepted"], "dropped:", summary["rejected_by_reason"])
    pairs = read_pairs(tmp_path / "pairs.jsonl")
    for pair in pairs:  # every pair is right by construction: chosen meets both constraints, rejected does not
        assert pair.how == "checkers" and all(pair.meta["checks_chosen"])
        assert not all(pair.meta["checks_rejected"])
    # Too few pairs from four prompts to train on alone: add checker-true ones so DPO always has data.
    pairs += [Pair(instruction=r.instruction, chosen=f"{t} are nice. i like {t}.", rejected=f"{t.upper()}, yes, AND MORE.",
                   how="checkers") for r, t in zip(records, topics)]
    write_pairs(tmp_path / "train.jsonl", pairs)
    result = train(TrainConfig(method="dpo", model="smollm2-135m-instruct", data=str(tmp_path / "train.jsonl"),
                               output=str(tmp_path / "dpo"), max_steps=3, batch_size=4, lora_r=8, learning_rate=5e-4,
                               beta=0.1, max_length=256, tensorboard=False, eval_fraction=0.0, merge=False),
                   progress=False)
    m = result.metrics
    assert m["reference_drift"] == 0.0 and m["first_loss"] == pytest.approx(0.6931, abs=0.02)
    assert m["final_margin"] > m["first_margin"]
    assert json.loads((tmp_path / "dpo" / "preflight.json").read_text())["end_token_trained"]
