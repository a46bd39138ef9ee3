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


METHODS = ("self-instruct", "evol", "respond", "convert", "magpie")


def config_model(method: str) -> type:
    if method == "self-instruct":
        from seedtune.generate.self_instruct import SelfInstructConfig

        return SelfInstructConfig
    if method == "evol":
        from seedtune.generate.evol_instruct import EvolConfig

        return EvolConfig
    if method == "respond":
        from seedtune.generate.respond import RespondConfig

        return RespondConfig
    if method == "magpie":
        from seedtune.generate.magpie import MagpieConfig

        return MagpieConfig
    from seedtune.generate.convert import ConvertConfig

    return ConvertConfig


def build_config(method: str, options: dict[str, Any], teacher_options: dict[str, Any] | None = None,
                 config_path: str | Path | None = None, overrides: Sequence[str] = ()) -> Any:
    """Merge YAML (`generate.<method>` or `generate`), flags and overrides into the method's config."""
    from seedtune.config import apply_overrides, load_yaml, validate

    data: dict[str, Any] = {}
    if config_path:
        loaded = load_yaml(config_path)
        section = loaded.get("generate", loaded) or {}
        data = dict(section.get(method, section) or {})
    data.update({k: v for k, v in options.items() if v is not None})
    if teacher_options:
        teacher = dict(data.get("teacher") or {})
        teacher.update({k: v for k, v in teacher_options.items() if v is not None})
        data["teacher"] = teacher
    apply_overrides(data, overrides)
    return validate(config_model(method), data, source=str(config_path) if config_path else None)


def read_input(path: str | Path, method: str) -> list[Any]:
    """Records to start from; our seed-task file when `path` is 'seeds' (self-instruct's and magpie's default)."""
    from seedtune.formats import read_required_records

    if str(path) == "seeds":
        from seedtune.data import seed_tasks_path

        path = seed_tasks_path()
    return read_required_records(path, "input", missing_hint="check the path (or write 'seeds' for our seed tasks)",
                                 empty_hint="give a file with at least one instruction")


def run_method(method: str, input_path: str | Path, output_path: str | Path, config: Any,
               progress: bool = True) -> dict[str, Any]:
    """Run one generation method end to end; returns the summary also written to `<out>.stats.json`."""
    if method == "convert":
        from seedtune.generate.convert import convert_dataset

        return convert_dataset(input_path, output_path, config)
    records = read_input(input_path, method)
    if method == "self-instruct":
        from seedtune.generate.self_instruct import self_instruct

        return self_instruct(records, output_path, config, progress=progress)
    if method == "evol":
        from seedtune.generate.evol_instruct import evol_instruct

        return evol_instruct(records, output_path, config, progress=progress)
    if method == "magpie":
        from seedtune.generate.magpie import magpie

        return magpie(records, output_path, config, progress=progress)
    from seedtune.generate.respond import respond

    return respond(records, output_path, config, progress=progress)


def generate(method: str, input_path: str | Path, output_path: str | Path, options: dict[str, Any],
             teacher_options: dict[str, Any] | None = None, config_path: str | Path | None = None,
             overrides: Sequence[str] = (), progress: bool = True) -> dict[str, Any]:
    """What `seedtune generate METHOD IN OUT ...` calls: build the config, then run the method."""
    config = build_config(method, options, teacher_options, config_path, overrides)
    return run_method(method, input_path, output_path, config, progress=progress)
