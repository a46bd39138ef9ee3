"""`seedtune run` and `seedtune quickstart`: the whole loop from one YAML, in one run folder."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from seedtune.pipeline.runner import StageOutcome

QUICKSTART = "quickstart.yaml"


@dataclass
class PipelineResult:
    run_dir: Path
    outcomes: list[StageOutcome]
    seconds: float

    @property
    def report(self) -> Path:
        return self.run_dir / "report" / "report.html"

    @property
    def model(self) -> Path:
        return self.run_dir / "3-train" / "model"

    @property
    def models(self) -> dict[str, Path]:
        """Label -> trained model: 'tuned', or one per training-data variant (3-train/<variant>/model)."""
        if self.model.exists():
            return {"tuned": self.model}
        return {p.parent.name: p for p in sorted((self.run_dir / "3-train").glob("*/model")) if p.is_dir()}


def quickstart_config_path() -> Path:
    return Path(str(resources.files("seedtune.pipeline").joinpath(QUICKSTART)))


def run_pipeline(path: str | Path | None, overrides: Sequence[str] = (), *, start: str | None = None,
                 until: str | None = None, log: Callable[[str], None] = print) -> PipelineResult:
    """Run (or resume) the pipeline a YAML describes; unchanged stages are skipped."""
    from seedtune.io import write_text
    from seedtune.pipeline.config import load_pipeline
    from seedtune.pipeline.runner import RunContext, run_stages
    from seedtune.pipeline.stages import build_stages

    import yaml

    config = load_pipeline(path, list(overrides))
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    # The resolved config, as it ran: what `seedtune run runs/<name>/config.yaml` reproduces.
    write_text(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
    ctx = RunContext(run_dir=run_dir, config=config, log=log)
    started = time.perf_counter()
    outcomes = run_stages(ctx, build_stages(config), start=start, until=until)
    return PipelineResult(run_dir, outcomes, time.perf_counter() - started)


def quickstart(overrides: Sequence[str] = (), **kwargs: Any) -> PipelineResult:
    """The main job on the embedded defaults, offline: SmolLM2 teaches, Gemma-3-270m learns."""
    return run_pipeline(quickstart_config_path(), overrides, **kwargs)
