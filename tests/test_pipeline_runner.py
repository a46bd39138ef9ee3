"""The stage runner: fingerprints skip unchanged stages; --from/--until; a failed stage reruns."""

from __future__ import annotations

import pytest

from seedtune.errors import ConfigError
from seedtune.pipeline.runner import RunContext, Stage, run_stages


def _stages(calls: list[str], settings: dict, fail: set[str] = frozenset()):
    def make(name, depends, input_file=None):
        def run(ctx, out):
            calls.append(name)
            if name in fail:
                raise RuntimeError(f"{name} broke")
            (out / "done.txt").write_text(name)
            return {"stage": name}

        return Stage(name=name, folder=f"{len(calls)}-{name}", run=run, config=lambda ctx: settings.get(name, {}),
                     inputs=(lambda ctx: [input_file]) if input_file else (lambda ctx: ()), depends=depends)

    return make


def _pipeline(tmp_path, calls, settings, fail=frozenset()):
    seeds = tmp_path / "seeds.jsonl"
    if not seeds.exists():
        seeds.write_text('{"instruction": "a"}\n')
    make = _stages(calls, settings, fail)
    stages = [make("generate", (), seeds), make("curate", ("generate",)), make("train", ("curate",)),
              make("eval", ("train",))]
    for i, s in enumerate(stages):
        s.folder = f"{i + 1}-{s.name}"
    return stages, seeds


def test_unchanged_stages_are_skipped_and_changes_flow_downstream(tmp_path):
    calls: list[str] = []
    settings = {"train": {"lr": 1e-4}}
    stages, seeds = _pipeline(tmp_path, calls, settings)
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    assert calls == ["generate", "curate", "train", "eval"]

    calls.clear()
    outcomes = run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    assert calls == [] and all(o.skipped for o in outcomes)

    settings["train"] = {"lr": 2e-4}  # a config change reruns that stage and everything after it
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    assert calls == ["train", "eval"]

    calls.clear()
    seeds.write_text('{"instruction": "b"}\n')  # an input file change reruns from the first stage
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    assert calls == ["generate", "curate", "train", "eval"]


def test_from_and_until(tmp_path):
    calls: list[str] = []
    stages, _ = _pipeline(tmp_path, calls, {})
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages, until="curate")
    assert calls == ["generate", "curate"]
    calls.clear()
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages, start="curate")
    assert calls == ["curate", "train", "eval"]
    with pytest.raises(ConfigError, match="stages are: generate, curate, train, eval"):
        run_stages(RunContext(tmp_path / "run", None), stages, start="tokenize")


def test_from_reruns_everything_downstream_of_the_forced_stage(tmp_path):
    """A forced stage keeps its fingerprint (same config), so the stages after it must rerun
    because it ran, not because a fingerprint moved: the report must show the new scores."""
    calls: list[str] = []
    stages, _ = _pipeline(tmp_path, calls, {})
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    calls.clear()
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages, start="train")
    assert calls == ["train", "eval"]


def test_a_failed_stage_leaves_no_marker_and_reruns(tmp_path):
    calls: list[str] = []
    stages, _ = _pipeline(tmp_path, calls, {}, fail={"train"})
    with pytest.raises(RuntimeError):
        run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    assert not (tmp_path / "run" / "3-train" / "stage.json").exists()
    calls.clear()
    stages, _ = _pipeline(tmp_path, calls, {})
    run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    assert calls == ["train", "eval"]  # generate and curate finished before and are skipped


def test_a_skipped_stage_remembers_how_long_its_last_run_took(tmp_path):
    calls: list[str] = []
    stages, _ = _pipeline(tmp_path, calls, {})
    first = run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    again = run_stages(RunContext(tmp_path / "run", None, log=lambda m: None), stages)
    for before, after in zip(first, again):
        assert after.skipped and after.seconds == 0.0
        assert after.run_seconds == pytest.approx(before.seconds, abs=0.01)


def test_a_part_of_a_stage_is_cached_on_its_own(tmp_path):
    """What each training-data variant uses: reused on the same fingerprint, rerun on a new one or
    when forced, and a part that fails leaves no marker (so it reruns)."""
    from seedtune.pipeline.runner import run_part

    calls: list[str] = []

    def work():
        calls.append("ran")
        return {"steps": 3}

    folder = tmp_path / "3-train" / "seeds-only"
    assert run_part(folder, "fp1", work)[:2] == ({"steps": 3}, False)
    assert run_part(folder, "fp1", work)[:2] == ({"steps": 3}, True) and calls == ["ran"]
    run_part(folder, "fp2", work)
    run_part(folder, "fp2", work, force=True)
    assert calls == ["ran"] * 3

    def broken():
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        run_part(folder, "fp3", broken)
    assert not (folder / "stage.json").exists()
    assert run_part(folder, "fp2", work)[1] is False  # no marker left: the old fingerprint reruns too


def test_from_forces_the_stage_and_tells_it(tmp_path):
    calls: list[str] = []
    stages, _ = _pipeline(tmp_path, calls, {})
    seen: list[bool] = []
    inner = stages[2].run
    stages[2].run = lambda ctx, out: (seen.append(ctx.forcing), inner(ctx, out))[1]
    ctx = RunContext(run_dir=tmp_path / "run", config=None, log=lambda m: None)
    run_stages(ctx, stages)
    run_stages(ctx, stages, start="train")
    assert seen == [False, True]

def test_the_run_report_totals_cost_per_stage_per_kept_record_and_per_trained_token(tmp_path):
    from seedtune.evaluate.results import EvalScores
    from seedtune.pipeline.report import run_costs
    from seedtune.pipeline.runner import StageOutcome

    ctx = RunContext(run_dir=tmp_path, config=None)
    gen = {"self_instruct": {"tokens": {"prompt": 100, "completion": 50}, "cost": 0.3},
           "respond": {"tokens": {"prompt": 40, "completion": 60}, "cost": 0.1}}
    ctx.outcomes["generate"] = StageOutcome("generate", tmp_path, False, 0.0, gen, "fp")
    funnel = {"kept": 8, "steps": [{"filter": "exact"}, {"filter": "llm-judge", "usage": {
        "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.1, "priced": True}}]}
    scores = EvalScores(cost={"prompt_tokens": 20, "completion_tokens": 10, "cost": 0.4, "priced": True})
    costs = run_costs(ctx, funnel, scores, 1000)
    assert costs["stages"]["generate"] == {"prompt_tokens": 140, "completion_tokens": 110, "cost": 0.4}
    assert costs["total"] == {"prompt_tokens": 170, "completion_tokens": 125, "cost": 0.9}
    assert costs["per_kept_record"] == pytest.approx(0.9 / 8) and costs["per_trained_token"] == pytest.approx(0.0009)
    # Without prices the tokens still add up, and nothing pretends to know the cost.
    ctx.outcomes["generate"] = StageOutcome("generate", tmp_path, False, 0.0, {
        "self_instruct": {"tokens": {"prompt": 1, "completion": 1}, "cost": None}}, "fp")
    unpriced = run_costs(ctx, {"kept": 8}, EvalScores(cost={"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.0,
                                                            "priced": False}), 10)
    assert unpriced["total"] == {"prompt_tokens": 2, "completion_tokens": 2, "cost": None}
    assert unpriced["per_kept_record"] is None and unpriced["per_trained_token"] is None
