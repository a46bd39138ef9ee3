"""What a model is, read from its files without loading its weights.

Parameter counts come from the safetensors headers (an 8-byte little-endian length, then a JSON
table of name -> dtype, shape, offsets; see the safetensors format spec), so `seedtune models
info` answers in milliseconds even for a GB of weights. Tied weights are stored once, so the
count is of unique parameters, the same as `sum(p.numel() for p in model.parameters())`.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from seedtune.errors import InputError
from seedtune.models.registry import EMBEDDED, find_embedded
from seedtune.models.store import MARKER, is_pulled, models_dir, read_marker, resolve_model

_DTYPE_NAMES = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F64": "float64", "I64": "int64",
                "I32": "int32", "I8": "int8", "U8": "uint8", "BOOL": "bool"}


@dataclass
class ModelInfo:
    """Facts about one model. Fields that need the files are None for a model not pulled yet."""

    name: str
    pulled: bool
    path: Path | None = None
    role: str | None = None
    kind: str | None = None
    source: str | None = None
    description: str | None = None
    license: str | None = None
    architecture: str | None = None
    model_type: str | None = None
    parameters: int | None = None
    vocab_size: int | None = None
    hidden_size: int | None = None
    layers: int | None = None
    max_positions: int | None = None
    has_chat_template: bool | None = None
    dtype: str | None = None
    size_bytes: int | None = None
    download_bytes: int | None = None

    @property
    def parameters_human(self) -> str:
        return format_count(self.parameters) if self.parameters is not None else "?"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path) if self.path else None
        return data


def format_count(n: int) -> str:
    """268098176 -> '268.1M'; 22713216 -> '22.7M'; 1.2e9 -> '1.2B'."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


def format_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def list_models() -> list[ModelInfo]:
    """The embedded defaults, pulled or not; never downloads anything."""
    out = []
    for name in EMBEDDED:
        if is_pulled(name):
            out.append(describe(models_dir() / name))
        else:
            out.append(_embedded_stub(name))
    return out


def model_info(name_or_path: str | Path, *, pull: bool = True, progress: bool = True) -> ModelInfo:
    """Facts about a model, pulling an embedded default first unless `pull=False`."""
    entry = find_embedded(str(name_or_path))
    if entry is not None and not pull and not is_pulled(entry.name):
        return _embedded_stub(entry.name)
    return describe(resolve_model(name_or_path, pull=pull, progress=progress), name=str(name_or_path))


def _embedded_stub(name: str) -> ModelInfo:
    entry = EMBEDDED[name]
    return ModelInfo(name=name, pulled=False, role=entry.role, kind=entry.kind, description=entry.description,
                     source=_source(name), license=entry.license, download_bytes=entry.download_size)


def _source(name: str) -> str:
    entry = EMBEDDED[name]
    extra = f" (+{len(entry.wheels) - 1} part wheels)" if len(entry.wheels) > 1 else ""
    return f"pypi:{entry.wheels[0].requirement}{extra}"


def describe(directory: Path, name: str | None = None) -> ModelInfo:
    """ModelInfo for a local directory (an HF causal LM or a sentence-transformers model)."""
    directory = Path(directory)
    config_path = directory / "config.json"
    config: dict[str, Any] = {}
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise InputError(f"not valid JSON: {exc}", path=config_path,
                             hint="the model directory is damaged; re-pull or re-save it") from exc
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}

    def pick(*keys: str) -> Any:
        for source in (config, text):
            for key in keys:
                if source.get(key) is not None:
                    return source[key]
        return None

    marker = read_marker(directory) or {}
    entry = EMBEDDED.get(marker.get("name", "")) if marker else None
    parameters, dtype = _safetensors_facts(directory)
    architectures = config.get("architectures") or []
    return ModelInfo(
        name=entry.name if entry else (name or directory.name),
        pulled=True,
        path=directory.resolve(),
        role=entry.role if entry else None,
        kind=entry.kind if entry else ("sentence-transformers" if (directory / "modules.json").is_file() else "hf"),
        source=_source(entry.name) if entry else "local directory",
        description=entry.description if entry else None,
        license=entry.license if entry else None,
        architecture=architectures[0] if architectures else None,
        model_type=pick("model_type"),
        parameters=parameters,
        vocab_size=pick("vocab_size"),
        hidden_size=pick("hidden_size", "d_model", "n_embd"),
        layers=pick("num_hidden_layers", "n_layer", "num_layers"),
        max_positions=pick("max_position_embeddings", "n_positions"),
        has_chat_template=has_chat_template(directory),
        dtype=dtype,
        size_bytes=sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and f.name != MARKER),
        download_bytes=entry.download_size if entry else None,
    )


def has_chat_template(directory: Path) -> bool:
    """True when the tokenizer ships a chat template (file or tokenizer_config entry)."""
    if (directory / "chat_template.jinja").is_file() or (directory / "chat_template.json").is_file():
        return True
    config_path = directory / "tokenizer_config.json"
    if config_path.is_file():
        try:
            return bool(json.loads(config_path.read_text(encoding="utf-8")).get("chat_template"))
        except ValueError:
            return False
    return False


def _safetensors_facts(directory: Path) -> tuple[int | None, str | None]:
    """(parameter count, most common dtype) from the headers of every *.safetensors file."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        return None, None
    total = 0
    dtypes: Counter[str] = Counter()
    for path in files:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for key, meta in header.items():
            if key == "__metadata__":
                continue
            numel = 1
            for dim in meta["shape"]:
                numel *= dim
            total += numel
            dtypes[meta["dtype"]] += numel
    top = dtypes.most_common(1)[0][0] if dtypes else None
    return total, _DTYPE_NAMES.get(top, top) if top else None


_TEXT_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
               "special_tokens_map.json", "adapter_config.json", "prompt_format.json", "chat_template.jinja")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt")
_SAMPLE_BLOCKS, _BLOCK = 16, 1 << 16


def fingerprint_dir(directory: Path) -> str:
    """Hash of a model directory's config/tokenizer files and a sample of its weight bytes.

    Whole-file hashing of multi-GB weights would cost minutes per run; retraining changes almost
    every byte, so the safetensors header plus 16 evenly spaced 64 KiB blocks and the file size
    tell two checkpoints apart at a cost of ~1 MiB read per file.
    """
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        if path.name in _TEXT_FILES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
        elif path.suffix in _WEIGHT_SUFFIXES:
            size = path.stat().st_size
            digest.update(f"{path.name}:{size}".encode())
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
                for i in range(_SAMPLE_BLOCKS):
                    handle.seek(max(0, (size - _BLOCK) * i // max(1, _SAMPLE_BLOCKS - 1)))
                    digest.update(handle.read(_BLOCK))
    return digest.hexdigest()[:16]
