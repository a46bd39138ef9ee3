"""The hand-written CLI options checked against the pydantic models they fill: every config
field has a flag or is deliberately left to `key=value`, no flag names a missing field, and no
help text copies a default (the model holds it, so a copy would drift)."""

from __future__ import annotations

import re

import pytest
import typer.main

from seedtune.cli import app
from seedtune.curate import CurateConfig
from seedtune.evaluate.config import EvalConfig
from seedtune.generate.api import METHODS, config_model
from seedtune.generate.common import TeacherConfig
from seedtune.train.config import TrainConfig

# Flags whose name is not the field's, or that are not config fields at all.
RENAMED = {"curate": {"threshold": "near_dup", "against": "decontamination"},
           "eval": {"model": "models", "label": "labels", "suite": "suites"},
           "train": {"no_packing": "packing"},
           "generate self-instruct": {"no_instances": "instances"},
           "generate templates": {"labels": "label_names"},
           "generate preferences": {"model": "teacher"}}  # --model DIR is --teacher hf:DIR
NOT_FIELDS = {"config", "quiet", "list_filters", "on_error", "full", "operations"}
TEACHER_FLAGS = {"teacher", "base_url", "concurrency", "batch_size", "api_key_env", "cache", "prices", "max_cost"}

# Fields set only through the YAML or `key=value` (the flags cover the everyday ones).
KEY_VALUE_ONLY = {
    "curate": {"order", "input_format", "trusted_sources", "report", "exact", "near_dup", "minhash", "embedding",
               "length", "keywords", "refusal", "language", "truncated", "labels", "consistency", "ifd"},
    "train": {"eval_every", "eval_fraction", "grad_accum", "gradient_checkpointing", "log_every", "lora_alpha",
              "lora_dropout", "lora_targets", "loss_chunk_size", "lr_scheduler", "max_grad_norm", "merge",
              "num_threads", "precision", "qlora", "save_every", "save_total_limit", "seed", "self_check",
              "tensorboard", "warmup_ratio", "weight_decay", "all_turns", "dpo_loss", "simpo_gamma", "speedups"},
    "eval": {"bootstrap_samples", "cache", "chunk_size", "cot_max_new_tokens", "dtype", "engine", "examples", "judge_check",
             "judge_dtype", "judge_max_tokens", "judge_modes", "judge_verdict", "max_new_tokens", "no_cache",
             "prompt_format", "seed", "suite", "compare", "if_max_new_tokens", "if_prompts", "judge_if_unreliable",
             "compare_previous"},
    "generate self-instruct": {"in_context_generated", "in_context_seeds", "instance_max_tokens", "max_length",
                               "max_new_per_request", "max_rounds", "max_tokens", "min_length", "novelty_threshold",
                               "requests_per_round", "temperature", "top_p"},
    "generate evol": {"chunk", "judge_equal", "max_tokens", "response_max_tokens", "sorry_max_words", "temperature",
                      "top_p"},
    "generate respond": {"chunk", "keep_truncated", "skip_answered", "top_p"},
    "generate templates": {"few_shot_ratio", "options", "options_ratio", "templates_per_row"},
    "generate magpie": {"answer_system", "max_length", "max_rounds", "min_length", "novelty_threshold", "prefix_en",
                        "prefix_zh", "query_max_tokens", "query_temperature", "query_top_p", "requests_per_round",
                        "system_en", "system_zh", "temperature", "top_p", "user_prefix"},
    "generate constraints": {"chunk", "limit", "max_tokens", "min_constraints"},
    "generate preferences": {"chunk", "loose", "min_margin", "reference_metric", "system", "top_p"},
}


def _commands():
    root = typer.main.get_command(app)
    gen = root.commands["generate"]
    yield "curate", root.commands["curate"], CurateConfig
    yield "train", root.commands["train"], TrainConfig
    yield "eval", root.commands["eval"], EvalConfig
    for method in METHODS:
        yield f"generate {method}", gen.commands[method], config_model(method)


def _options(command):
    return {p.name: p for p in command.params if not type(p).__name__.endswith("Argument")}


@pytest.mark.parametrize("name,command,model", list(_commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_flag_fills_a_field_and_copies_no_default(name, command, model):
    fields = model.model_fields
    for flag, param in _options(command).items():
        if flag in NOT_FIELDS:
            continue
        field = RENAMED.get(name, {}).get(flag, flag)
        if name.startswith("generate") and flag in TEACHER_FLAGS and name != "generate templates":
            assert flag in TeacherConfig.model_fields, f"{name} --{flag} fills no teacher field"
            continue
        assert field in fields, f"{name}: --{flag} fills no field of {model.__name__}"
        default = fields[field].default
        if default not in (None, True, False, "") and not isinstance(default, (list, dict)):
            assert not re.search(rf"\(default:? {re.escape(str(default))}\b", param.help or ""), \
                f"{name} --{flag} help copies the default {default!r}: {param.help!r}"


@pytest.mark.parametrize("name,command,model", list(_commands()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_field_has_a_flag_or_is_left_to_key_value(name, command, model):
    flags = {RENAMED.get(name, {}).get(f, f) for f in _options(command)}
    if name.startswith("generate") and name != "generate templates":
        flags.add("teacher")  # the teacher section is filled by the teacher flags
    left = KEY_VALUE_ONLY.get(name, set())
    assert left <= set(model.model_fields), f"KEY_VALUE_ONLY[{name!r}] names no field: {sorted(left - set(model.model_fields))}"
    missing = set(model.model_fields) - flags - left
    assert not missing, f"{name}: fields with neither a flag nor a place in KEY_VALUE_ONLY: {sorted(missing)}"


def test_one_precedence_yaml_then_flags_then_key_value(tmp_path):
    from seedtune.config import merge_section

    cfg = tmp_path / "p.yaml"
    cfg.write_text("name: x\ncurate:\n  near_dup: {threshold: 0.5, max_compare: 9}\n  filters: [exact]\n")
    data = merge_section(cfg, "curate", {"near_dup.threshold": 0.6}, ["curate.near_dup.threshold=0.8"])
    assert data == {"near_dup": {"threshold": 0.8, "max_compare": 9}, "filters": ["exact"]}
    assert merge_section(cfg, "train", {}, []) == {}  # a pipeline file without this stage's section
    assert merge_section(tmp_path / "p.yaml", ["generate", "respond"], {"n": 2}, []) == {"n": 2}


def test_generate_self_instruct_with_the_pipeline_yaml(tmp_path, monkeypatch):
    """The CLI says self-instruct, the YAML self_instruct: the stage's section is used."""
    from pathlib import Path

    from typer.testing import CliRunner

    from seedtune.teachers import ScriptedTeacher, register, registry

    register("clitest", lambda name, base_url=None, **kw: ScriptedTeacher(default="1. Write a poem about rain."))
    monkeypatch.chdir(tmp_path)
    try:
        quickstart = Path(__file__).parents[1] / "examples" / "quickstart.yaml"
        result = CliRunner().invoke(app, ["generate", "self-instruct", "seeds", "out.jsonl", "--config", str(quickstart),
                                          "--teacher", "clitest:x", "--cache", "c.db", "-q",
                                          "generate.self_instruct.max_rounds=1", "target=1"])
    finally:
        registry._KINDS.pop("clitest", None)
    assert result.exit_code == 0, result.output
    assert "unknown key" not in result.output and (tmp_path / "out.jsonl").exists()


def test_every_generate_method_is_a_command_and_checked_above():
    gen = typer.main.get_command(app).commands["generate"]
    shown = {n for n, c in gen.commands.items() if not c.hidden}
    assert shown == set(METHODS), shown ^ set(METHODS)


def _visible(command, path=()):
    """(command path, visible option names) of every command below `command`."""
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            yield from _visible(sub, (*path, name))
    if not hasattr(command, "commands"):
        yield path, {o for p in command.params if not getattr(p, "hidden", False) for o in p.opts}


def test_one_name_one_meaning_across_commands():
    """`convert` is a format conversion only (`data convert`), `--from` a stage only (`run`, `quickstart`);
    the old spellings are hidden aliases that still work."""
    root = typer.main.get_command(app)
    commands = dict(_visible(root))
    assert [p for p in commands if p[-1] == "convert"] == [("data", "convert")]
    assert [p for p, opts in commands.items() if "--from" in opts] == [("run",), ("quickstart",)]  # a stage
    assert root.commands["generate"].commands["convert"].hidden


def test_generate_convert_still_runs_templates(tmp_path):
    from typer.testing import CliRunner

    data = tmp_path / "sst.csv"
    data.write_text("sentence,label\ngreat film,1\ndull plot,0\nloved it,1\n", encoding="utf-8")
    outputs = []
    for command in ("templates", "convert"):
        out = tmp_path / f"{command}.jsonl"
        result = CliRunner().invoke(app, ["generate", command, str(data), str(out), "--columns", "text=sentence",
                                          "--labels", "0=negative,1=positive", "--seed", "3"])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 3


def test_templates_reads_its_yaml_section_under_either_name(tmp_path):
    from seedtune.generate.api import build_config

    for key in ("templates", "convert"):
        cfg = tmp_path / f"{key}.yaml"
        cfg.write_text(f"generate:\n  {key}: {{kind: qa, shots: 3}}\n  self_instruct: {{target: 5}}\n")
        for method in ("templates", "convert"):
            config = build_config(method, {"seed": 4}, None, cfg, [f"generate.{key}.shots=1"])
            assert (config.kind, config.shots, config.seed) == ("qa", 1, 4)
