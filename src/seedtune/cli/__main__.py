"""`python -m seedtune.cli ...` (what `accelerate launch -m seedtune.cli train ...` runs)."""

from seedtune.cli import main

main()
