"""`seedtune export`: a trained model directory as one GGUF file plus an Ollama `Modelfile`.

The GGUF writer itself lives in `seedtune.models.gguf` (the llama.cpp engine converts models with
it too); this module keeps the export names (`export_gguf`, `TYPES`) and adds the Modelfile.
"""

from __future__ import annotations

import json
from pathlib import Path

from seedtune.errors import SeedtuneError
from seedtune.models.gguf import TYPES, export_gguf, prompt_format_of

__all__ = ["MODELFILE_MARK", "TYPES", "export_gguf", "write_modelfile"]

MODELFILE_MARK = "# Written by seedtune export"


def write_modelfile(gguf_path: str | Path, model_dir: str | Path) -> Path:
    """An Ollama Modelfile beside the GGUF file: `ollama create NAME -f Modelfile`.

    Ollama templates are Go templates, not Jinja: for the Alpaca layout we write the same prompt
    in Go syntax; for a chat template we leave TEMPLATE out, and Ollama takes the Jinja one from
    the file's metadata. Stop strings become `PARAMETER stop` lines. A Modelfile that seedtune did
    not write is never overwritten.
    """
    from seedtune.io import write_text
    from seedtune.models.loading import load_tokenizer

    gguf_path, model_dir = Path(gguf_path), Path(model_dir)
    path = gguf_path.parent / "Modelfile"
    if path.exists() and not path.read_text(encoding="utf-8").startswith(MODELFILE_MARK):
        raise SeedtuneError(f"{path} exists and was not written by seedtune",
                            hint="move it away, or export into another directory with --output")
    fmt = prompt_format_of(model_dir, load_tokenizer(model_dir))
    lines = [f"{MODELFILE_MARK} from {model_dir.name}; create the model with: ollama create NAME -f Modelfile",
             f"FROM ./{gguf_path.name}"]
    if fmt.type == "alpaca":
        go = ('{{ if .System }}{{ .System }}\n\n{{ end }}' + fmt.preamble
              + "\n\n### Instruction:\n{{ .Prompt }}\n\n### Response:\n")
        lines.append(f'TEMPLATE """{go}"""')
    for stop in fmt.stop_strings():
        lines.append(f"PARAMETER stop {json.dumps(stop, ensure_ascii=False)}")
    write_text(path, "\n".join(lines) + "\n")
    return path
