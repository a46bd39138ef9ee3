"""`python -m seedtune ...` is the `seedtune` command."""

from seedtune.cli import main

main()
