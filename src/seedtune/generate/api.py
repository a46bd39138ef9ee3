"""One entry point per CLI call: read the input, build the method's config, run it.

`run_method("respond", "in.jsonl", "out.jsonl", {"n": 2}, {"teacher": "openai:gpt-4o"})` is what
`seedtune generate respond in.jsonl out.jsonl --n 2 --teacher openai:gpt-4o` does. Config comes
from (lowest to highest) a YAML file's `generate:` section, then flags, then `key=value` overrides,
and is validated so a typo names its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


# Other spellings of a method (Evol-Instruct is `evol` in the CLI, the YAML and Record.source;
# `templates` was `convert`, a name `seedtune data convert` uses for format conversion).
METHOD_ALIASES = {"evol-instruct": "evol", "evol_instruct": "evol", "self_instruct": "self-instruct",
                  "convert": "templates"}


def method_name(method: str) -> str:
    return METHOD_ALIASES.get(method, method)


# method -> (module, its config class, the function that runs it on records)
_MODULES = {
    "self-instruct": ("self_instruct", "SelfInstructConfig", "self_instruct"),
    "evol": ("evol_instruct", "EvolConfig", "evol_instruct"),
    "respond": ("respond", "RespondConfig", "respond"),
    "templates": ("convert", "ConvertConfig", "convert_dataset"),  # FLAN-style templates over a dataset
    "constraints": ("constraints", "ConstraintsConfig", "add_constraints"),
    "preferences": ("preferences", "PreferencesConfig", "preferences"),
    "magpie": ("magpie", "MagpieConfig", "magpie"),
}
METHODS = tuple(_MODULES)


def _member(method: str, which: int) -> Any:
    import importlib

    entry = _MODULES.get(method_name(method))
    if entry is None:
        from seedtune.errors import ConfigError

        raise ConfigError(f"unknown generation method {method!r}", key="method", hint=f"use one of: {', '.join(METHODS)}")
    return getattr(importlib.import_module(f"seedtune.generate.{entry[0]}"), entry[which])


def config_model(method: str) -> type:
    return _member(method, 1)


# Keys of a pipeline's `generate:` section: a file whose generate section holds them but not the
# method asked for has no settings for that method.
# The YAML spells a method with "_" and may use an alias (`evol_instruct`, `convert`).
GENERATE_KEYS = frozenset({"include_seeds", *(m.replace("-", "_") for m in (*_MODULES, *METHOD_ALIASES))})
# YAML key -> its other spellings, for `merge_section`.
_YAML_ALIASES = {"evol": ("evol_instruct", "evol-instruct"), "templates": ("convert",)}


def build_config(method: str, options: dict[str, Any], teacher_options: dict[str, Any] | None = None,
                 config_path: str | Path | None = None, overrides: Sequence[str] = ()) -> Any:
    """YAML (`generate.<method>`, `generate`, or the whole file), then flags, then overrides, validated."""
    from seedtune.config import PIPELINE_KEYS, merge_section, validate

    flags = dict(options)
    flags.update({f"teacher.{k}": v for k, v in (teacher_options or {}).items()})
    method = method_name(method)
    data = merge_section(config_path, ["generate", method], flags, overrides, containers=(PIPELINE_KEYS, GENERATE_KEYS),
                         aliases=_YAML_ALIASES)
    return validate(config_model(method), data, source=str(config_path) if config_path else None)


def read_input(path: str | Path, method: str) -> list[Any]:
    """Records to start from; our seed-task file when `path` is 'seeds' (self-instruct's and magpie's default)."""
    from seedtune.formats import read_required_records

    if str(path) == "seeds":
        from seedtune.data import seed_tasks_path

        path = seed_tasks_path()
    return read_required_records(path, "input", missing_hint="check the path (or write 'seeds' for our seed tasks)",
                                 empty_hint="give a file with at least one instruction")


def check_not_input(input_path: str | Path, output_path: str | Path) -> None:
    """OUT (or a side file beside it) must not be the input: a run appends to and rebuilds OUT."""
    import os

    from seedtune.errors import InputError
    from seedtune.generate.common import side_path

    source, out = Path(input_path), Path(output_path)
    if str(input_path) == "seeds" or not source.is_file():
        return
    for target in (out, side_path(out, "rejected.jsonl"), side_path(out, "stats.json")):
        if target.exists() and os.path.samefile(source, target):
            raise InputError(f"the output {target.name} is the input file: generating into it would change "
                             "what is being read", path=target, hint="write to a new output file")


def run_method(method: str, input_path: str | Path, output_path: str | Path, config: Any,
               progress: bool = True, judge: Any = None) -> dict[str, Any]:
    """Run one generation method end to end; returns the summary also written to `<out>.stats.json`."""
    check_not_input(input_path, output_path)
    run = _member(method, 2)
    if method_name(method) == "templates":  # reads its dataset itself (any layout, column mapping)
        return run(input_path, output_path, config)
    # A preferences judge, if configured, is opened by the caller and passed in.
    extra = {"judge": judge} if method_name(method) == "preferences" else {}
    return run(read_input(input_path, method), output_path, config, progress=progress, **extra)


def generate(method: str, input_path: str | Path, output_path: str | Path, options: dict[str, Any],
             teacher_options: dict[str, Any] | None = None, config_path: str | Path | None = None,
             overrides: Sequence[str] = (), progress: bool = True, open_judge: Any = None) -> dict[str, Any]:
    """What `seedtune generate METHOD IN OUT ...` calls: build the config, then run the method.
    `open_judge(config)` opens the pairwise judge of `preferences`."""
    config = build_config(method, options, teacher_options, config_path, overrides)
    judge = open_judge(config) if open_judge is not None else None
    return run_method(method, input_path, output_path, config, progress=progress, judge=judge)
