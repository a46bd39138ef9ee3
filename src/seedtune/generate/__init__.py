"""Generation: grow seed tasks into instruction data with a teacher, one method per module.

- `self_instruct` — new instructions from a pool of seeds (Wang et al. 2023)
- `evol_instruct` — harder and broader rewrites of instructions (Xu et al. 2023, WizardLM)
- `respond` — answers (n samples each) for given instructions (Peng et al. 2023)
- `convert` — `seedtune generate templates`: FLAN-style instruction records from an existing labelled
  dataset (Wei et al. 2022)
- `magpie` — an instruct teacher writes the request from its chat template, then answers it (Xu et al. 2024)
- `constraints` — verifiable constraints added to answered records, checked by `seedtune.verifiable`
- `preferences` — chosen/rejected pairs from n sampled answers (checkers, reference or judge)

Every run writes append-only JSONL that survives SIGKILL and resumes by replay (see `common`).
"""

from __future__ import annotations

__all__ = ["self_instruct", "evol_instruct", "respond", "convert_dataset"]


def __getattr__(name: str):  # lazy: importing the package must not import every method
    if name == "self_instruct":
        from seedtune.generate.self_instruct import self_instruct

        return self_instruct
    if name == "evol_instruct":
        from seedtune.generate.evol_instruct import evol_instruct

        return evol_instruct
    if name == "respond":
        from seedtune.generate.respond import respond

        return respond
    if name == "convert_dataset":
        from seedtune.generate.convert import convert_dataset

        return convert_dataset
    raise AttributeError(name)
