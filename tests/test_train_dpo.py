"""DPO on the tiny kit: the loss falls, the reward margin grows, the reference never moves, and the
pairs go through SFT's label building and checks."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

WORDS = "the quick brown fox jumps over lazy dog apples paris france capital answer".split()


def _pairs(path: Path, n: int = 24, seed: int = 0) -> Path:
    from seedtune.formats.pairs import Pair, write_pairs

    rng = random.Random(seed)
    pairs = [Pair(instruction=" ".join(rng.choices(WORDS, k=rng.randint(3, 8))), chosen="the capital of france is paris",
                  rejected=" ".join(rng.choices(WORDS, k=rng.randint(3, 7))), how="reference", teacher="scripted")
             for _ in range(n)]
    write_pairs(path, pairs, layout="trl")  # a foreign layout on purpose: the trainer reads every layout
    return path


def _cfg(tmp_path: Path, model_dir: Path, **kw):
    from seedtune.train import TrainConfig

    data = tmp_path / "pairs.jsonl"
    if not data.exists():
        _pairs(data)
    base = dict(method="dpo", model=str(model_dir), data=str(data), output=str(tmp_path / "dpo"), max_steps=12,
                batch_size=4, max_length=64, learning_rate=2e-2, tensorboard=False, warmup_ratio=0.0, beta=0.5,
                eval_fraction=0.0, lr_scheduler="constant")
    base.update(kw)
    return TrainConfig(**base)


def test_preference_losses_by_hand():
    from seedtune.train.preference import preference_loss

    pc, pr, rc, rr = torch.tensor([-4.0]), torch.tensor([-6.0]), torch.tensor([-5.0]), torch.tensor([-5.0])
    n_c, n_r = torch.tensor([2.0]), torch.tensor([4.0])
    out = preference_loss(pc, pr, rc, rr, n_c, n_r, kind="sigmoid", beta=0.1)
    assert float(out.chosen_reward) == pytest.approx(0.1) and float(out.rejected_reward) == pytest.approx(-0.1)
    assert float(out.loss) == pytest.approx(-math.log(1 / (1 + math.exp(-0.2))))
    ipo = preference_loss(pc, pr, rc, rr, n_c, n_r, kind="ipo", beta=0.1)
    assert float(ipo.loss) == pytest.approx((0.5 - (-0.25) - 5.0) ** 2)
    simpo = preference_loss(pc, pr, None, None, n_c, n_r, kind="simpo", beta=2.0, gamma=0.5)
    assert float(simpo.margin) == pytest.approx(2.0 * (-2.0 + 1.5))
    assert float(simpo.loss) == pytest.approx(-math.log(1 / (1 + math.exp(-(-1.0 - 0.5)))))
    with pytest.raises(ValueError):
        preference_loss(pc, pr, None, None, n_c, n_r, kind="sigmoid")


def test_lora_dpo_learns_the_preference_and_keeps_the_reference(tmp_path, tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from seedtune.train import train

    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    res = train(_cfg(tmp_path, tiny_model_dir), progress=False)
    m = res.metrics
    assert m["first_loss"] == pytest.approx(math.log(2), abs=1e-3)  # policy == reference at step 1
    assert sum(res.losses[-3:]) / 3 < res.losses[0] - 0.1, res.losses
    assert m["final_margin"] > m["first_margin"] + 0.1 and m["final_accuracy"] > 0.5
    assert m["reference_drift"] == 0.0
    out = res.output
    curve = json.loads((out / "loss_curve.json").read_text())
    assert len(curve["loss"]) == len(curve["margin"]) == len(curve["chosen_reward"]) == 12
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["final_margin"] == pytest.approx(m["final_margin"]) and saved["method"] == "dpo"
    pre = json.loads((out / "preflight.json").read_text())
    assert pre["prompt_never_trained"] and pre["end_token_trained"] and pre["kept"] == 24
    lineage = json.loads((out / "lineage.json").read_text())
    assert lineage["method"] == "dpo" and lineage["pairs"] == 24 and lineage["how"] == {"reference": 24}
    merged = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert any(not torch.equal(v, before[k]) for k, v in merged.items())  # the adapter was merged in
    assert (out / "adapter" / "adapter_config.json").exists()


def test_full_dpo_uses_a_frozen_copy_that_never_changes(tmp_path, tiny_model_dir):
    from seedtune.train import train

    res = train(_cfg(tmp_path, tiny_model_dir, full=True, learning_rate=2e-3, max_steps=8), progress=False)
    assert res.metrics["reference_drift"] == 0.0
    assert res.metrics["final_margin"] > res.metrics["first_margin"]


def test_reference_drift_is_detected(tiny_model_dir):
    from transformers import AutoTokenizer

    from seedtune.formats.pairs import Pair
    from seedtune.prompts.formats import for_model
    from seedtune.train.dpo import _Reference
    from seedtune.train.modeling import SequenceLogProbs, load_base
    from seedtune.train.preference import prepare_pairs

    class _Acc:  # the two things _Reference needs from an Accelerator, single process
        device, process_index, num_processes = torch.device("cpu"), 0, 1

    model, tokenizer, _ = load_base(str(tiny_model_dir), torch.float32)
    data = prepare_pairs([Pair(instruction="name a city", chosen="paris", rejected="dog")] * 2,
                         for_model(AutoTokenizer.from_pretrained(tiny_model_dir)), tokenizer, 64, "drop")
    ref = _Reference(SequenceLogProbs(model), model, torch.device("cpu"))
    logps = ref.logps(data, 2, tokenizer.pad_token_id, torch.autocast("cpu", enabled=False), _Acc())
    assert logps.shape == (2, 2) and (logps < 0).all()
    assert ref.drift(data, logps, 2, tokenizer.pad_token_id, torch.autocast("cpu", enabled=False), _Acc()) == 0.0
    with torch.no_grad():
        ref.frozen.model.get_output_embeddings().weight.mul_(1.5)
    assert ref.drift(data, logps, 2, tokenizer.pad_token_id, torch.autocast("cpu", enabled=False), _Acc()) > 1e-3


def test_sequence_logprobs_equal_the_models_own(tiny_model_dir):
    from seedtune.train.modeling import SequenceLogProbs, load_base
    from seedtune.train.packing import Row, collate

    model, tokenizer, _ = load_base(str(tiny_model_dir), torch.float32)
    rows = [Row([5, 6, 7, 8, 9], [-100, -100, 7, 8, 9], [0, 1, 2, 3, 4], 1), Row([5, 6, 10], [-100, 6, 10], [0, 1, 2], 1)]
    ids, pos, labels = collate(rows, tokenizer.pad_token_id)
    ours = SequenceLogProbs(model)(ids, pos, labels)
    with torch.no_grad():
        for b, row in enumerate(rows):
            logits = model(input_ids=torch.tensor([row.input_ids])).logits[0].log_softmax(-1)
            want = sum(float(logits[t - 1, row.labels[t]]) for t in range(1, len(row)) if row.labels[t] != -100)
            assert float(ours[b]) == pytest.approx(want, abs=1e-4)


def test_cli_trains_dpo(tmp_path, tiny_model_dir):
    from typer.testing import CliRunner

    from seedtune.cli import app

    data = _pairs(tmp_path / "pairs.jsonl", n=8)
    result = CliRunner().invoke(app, ["train", "--method", "dpo", "--model", str(tiny_model_dir), "--data", str(data),
                                      "--output", str(tmp_path / "cli"), "--max-steps", "2", "--beta", "0.2",
                                      "tensorboard=false", "merge=false"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cli" / "metrics.json").read_text())["beta"] == 0.2


def test_simpo_needs_no_reference_and_ipo_trains(tmp_path, tiny_model_dir):
    from seedtune.train import train

    simpo = train(_cfg(tmp_path, tiny_model_dir, dpo_loss="simpo", beta=2.0, max_steps=4, output=str(tmp_path / "s")),
                  progress=False)
    assert simpo.metrics["reference_drift"] is None and math.isfinite(simpo.metrics["final_loss"])
    assert simpo.metrics["final_margin"] > simpo.metrics["first_margin"]
    ipo = train(_cfg(tmp_path, tiny_model_dir, dpo_loss="ipo", max_steps=4, merge=False, output=str(tmp_path / "i")),
                progress=False)
    assert ipo.losses[-1] < ipo.losses[0] and ipo.metrics["reference_drift"] == 0.0


def test_dpo_resume_equals_uninterrupted(tmp_path, tiny_model_dir):
    import shutil

    from seedtune.train import train

    kw = dict(max_steps=4, save_every=2, precision="fp32", merge=False)
    full = train(_cfg(tmp_path, tiny_model_dir, output=str(tmp_path / "a"), **kw), progress=False)
    (tmp_path / "b").mkdir()
    shutil.copytree(full.output / "checkpoints" / "step-0000002", tmp_path / "b" / "checkpoints" / "step-0000002")
    resumed = train(_cfg(tmp_path, tiny_model_dir, output=str(tmp_path / "b"), resume=True, **kw), progress=False)
    assert resumed.losses == full.losses
    assert resumed.metrics["final_margin"] == full.metrics["final_margin"]
