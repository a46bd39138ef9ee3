"""seedtune: turn a handful of seed tasks into an instruction-tuned model, and prove it on unseen tasks.

The package is laid out as the pipeline it implements (see ARCHITECTURE.md):
    formats, prompts, teachers  ->  generate  ->  curate  ->  train  ->  evaluate  ->  report
Heavy libraries (torch, transformers) are imported inside the functions that need them, so
`import seedtune` and `seedtune --help` stay fast.
"""

__version__ = "0.1.0"
