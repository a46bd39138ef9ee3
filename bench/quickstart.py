"""Time `seedtune quickstart` stage by stage against its 15-minute budget.

Runs the real quickstart in a fresh temporary directory with a fresh request cache, so nothing
is answered from an earlier run (the embedded models themselves are pulled once beforehand and
not timed: pulling is a one-off download, reported by `seedtune models pull`).

    python bench/quickstart.py            # prints seconds and share per stage, total, and total / budget
    python bench/quickstart.py --keep DIR # ... and leaves the run (report, model, scores) in DIR
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

BUDGET_S = 15 * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("overrides", nargs="*", help="key=value overrides passed to the quickstart")
    ap.add_argument("--keep", type=Path, help="run in this new directory and keep it (default: a temporary one)")
    args = ap.parse_args()
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep}: the directory is not empty; name a new one so no earlier run is reused")

    from seedtune.models import pull

    for name in ("smollm2-135m-instruct", "gemma-3-270m", "all-minilm-l6-v2"):
        pull(name)
    from seedtune.pipeline import quickstart

    with tempfile.TemporaryDirectory(prefix="seedtune-quickstart-") as scratch:
        tmp = str(args.keep.resolve()) if args.keep is not None else scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        cache = Path(tmp) / "requests.sqlite"
        overrides = [*_fresh_cache(cache), *args.overrides]
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            started = time.perf_counter()
            result = quickstart(overrides, log=lambda m: None)
            total = time.perf_counter() - started
        finally:
            os.chdir(cwd)
    # each stage's share of the whole run: where a second saved buys the most
    print(f"{'stage':<10} {'seconds':>8} {'share':>6}")
    for outcome in result.outcomes:
        print(f"{outcome.name:<10} {outcome.seconds:>8.1f} {outcome.seconds / total:>6.1%}")
    print(f"{'total':<10} {total:>8.1f} {1:>6.0%}   budget {BUDGET_S} s   total/budget = {total / BUDGET_S:.2f}")
    if args.keep is not None:
        print(f"run kept in {args.keep / 'runs' / 'quickstart'}")


def _fresh_cache(cache: Path) -> list[str]:
    """Point every teacher the quickstart configures (each generation method, eval) at `cache`."""
    import yaml

    from seedtune.pipeline import quickstart_config_path

    config = yaml.safe_load(quickstart_config_path().read_text(encoding="utf-8"))
    methods = [m for m, section in (config.get("generate") or {}).items()
               if isinstance(section, dict) and isinstance(section.get("teacher"), dict)]
    return [*(f"generate.{m}.teacher.cache={cache}" for m in methods), f"eval.cache={cache}"]


if __name__ == "__main__":
    main()
