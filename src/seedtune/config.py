"""Typed, validated config: YAML files plus dotted `key=value` overrides, errors that name the key.

Each stage defines its own pydantic model next to its code (`curate.config`, `train.config`, ...);
this module holds what they share: loading, overriding, and turning pydantic's errors into one
message that names the dotted key the user must change.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from seedtune.errors import ConfigError, InputError

T = TypeVar("T", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path, hint="check the path")
    from seedtune.io import read_text

    text = read_text(path, "config file")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path=path,
                         line=mark.line + 1 if mark else None, hint="fix the YAML syntax at that line") from exc
    if not isinstance(data, dict):
        raise InputError("the top level must be a mapping of keys to values", path=path)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.lora_r=8' -> (['train', 'lora_r'], 8). Values are parsed as YAML scalars/lists."""
    if "=" not in text or text.startswith("="):
        raise ConfigError(f"override {text!r} is not of the form key=value",
                          hint="write overrides as dotted.key=value, e.g. train.learning_rate=2e-4")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply dotted overrides to a nested dict (in place) and return it."""
    for text in overrides:
        keys, value = parse_override(text)
        set_dotted(data, ".".join(keys), value)
    return data


# Top-level keys of a pipeline YAML (`seedtune run`): a file holding any of them is a pipeline
# file, and a stage command given one reads only its own section (or nothing, if it has none).
PIPELINE_KEYS = frozenset({"name", "runs_dir", "seeds", "generate", "curate", "train", "eval"})


def yaml_key(name: str) -> str:
    """The YAML spelling of a CLI name: `self-instruct` -> `self_instruct`."""
    return name.replace("-", "_")


def section_of(data: dict[str, Any], path: Sequence[str], containers: Sequence[frozenset[str]] = (),
               aliases: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The settings `path` (e.g. ['generate', 'self_instruct']) names in a loaded YAML.

    Each level is followed when the file has it (under its YAML spelling or an alias). A file
    without the level is a file for this stage alone, whose top level is the section, unless it
    holds the keys of a container at that level (`containers[i]`: a pipeline file, or a pipeline's
    `generate:` with other methods): then it has no settings for this stage."""
    node: Any = data
    for depth, part in enumerate(path):
        names = [yaml_key(part), part, *((aliases or {}).get(yaml_key(part), ()))]
        found = next((n for n in names if isinstance(node, dict) and n in node), None)
        if found is None:
            marks = containers[depth] if depth < len(containers) else frozenset()
            return {} if isinstance(node, dict) and marks & node.keys() else dict(node or {})
        node = node[found]
    return dict(node) if isinstance(node, dict) else {}


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """data['a']['b'] = value for 'a.b', creating (and refusing to overwrite non-dict) parents."""
    keys = dotted.split(".")
    node = data
    for k in keys[:-1]:
        child = node.get(k)
        if child is None:
            child = node[k] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set a sub-key of a {type(child).__name__}", key=dotted)
        node = child
    node[keys[-1]] = value


def merge_section(path: str | Path | None, section: str | Sequence[str], flags: dict[str, Any],
                  overrides: Sequence[str] = (), *, containers: Sequence[frozenset[str]] = (PIPELINE_KEYS,),
                  aliases: dict[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """What every stage command runs with, in one precedence: the YAML file's section (see
    `section_of`), then the flags the user gave (None = not given; dotted keys such as
    `near_dup.threshold` set one nested value), then `key=value` overrides. Overrides may carry
    the section prefix (`train.lora_r=8`, `generate.self_instruct.target=5`) or not (`lora_r=8`)."""
    parts = [section] if isinstance(section, str) else list(section)
    data: dict[str, Any] = section_of(load_yaml(path), parts, containers, aliases) if path else {}
    for key, value in flags.items():
        if value is not None:
            set_dotted(data, key, value)
    # Any spelling of the section path may prefix an override; the longest match is stripped.
    spellings = [dict.fromkeys([yaml_key(p), p, *(aliases or {}).get(yaml_key(p), ())]) for p in parts]
    prefixes = sorted({".".join(names[:i]) + "." for names in itertools.product(*spellings)
                       for i in range(1, len(parts) + 1)}, key=len, reverse=True)
    stripped = []
    for text in overrides:
        prefix = next((p for p in prefixes if text.startswith(p)), "")
        stripped.append(text[len(prefix):])
    return apply_overrides(data, stripped)


def validate(model: type[T], data: dict[str, Any], *, source: str | None = None, prefix: str = "") -> T:
    """Validate `data` against `model`; the first error names its dotted key and the allowed values."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(err["loc"]))
        where = f" (in {source})" if source else ""
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            parent = model
            for part in err["loc"][:-1]:
                field = getattr(parent, "model_fields", {}).get(part)
                ann = getattr(field, "annotation", None) if field else None
                parent = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else parent
            known = ", ".join(getattr(parent, "model_fields", {}))
            message = f"unknown key{where}; known keys here: {known}"
        else:
            message = f"{message}{where}; got {err.get('input')!r}"
        raise ConfigError(message, key=key, hint="fix the YAML or pass an override like key=value") from None


def env_var_name(value: str, key: str) -> str:
    """`value` must name an environment variable (e.g. OPENAI_API_KEY), never be the secret: a key
    pasted here would be written into the run's config.yaml and stage.json. The value is never
    echoed back, since it may be a secret."""
    import math
    import re
    from collections import Counter

    text = value.strip()
    counts = Counter(text)
    entropy = -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values()) if text else 0.0
    mixed = sum(bool(re.search(p, text)) for p in ("[a-z]", "[A-Z]", "[0-9]")) == 3
    looks_like_key = (text.lower().startswith(("sk-", "sk_", "pk-", "hf_", "ghp_", "xai-", "gsk_", "aiza"))
                      or (len(text) >= 20 and mixed and entropy > 3.5))
    if looks_like_key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
        what = "looks like an API key itself" if looks_like_key else "is not an environment variable name"
        raise ConfigError(f"the value {what}; it must be the NAME of the environment variable that holds "
                          "the key (the value was not saved anywhere)", key=key,
                          hint="export OPENAI_API_KEY=<your key> and set api_key_env: OPENAI_API_KEY (the default); "
                               "if you pasted a real key, consider rotating it")
    return text
