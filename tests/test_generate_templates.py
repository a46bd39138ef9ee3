"""Every prompt template ships in English and Chinese and renders with the variables its method passes."""

from __future__ import annotations

from importlib import resources

import pytest

from seedtune.generate.common import render, template_text
from seedtune.generate.evol_instruct import OPERATIONS

ROOT = resources.files("seedtune.generate").joinpath("templates")
CONTEXT = {"tasks": ["Explain tides.", "Write a haiku."], "instruction": "Explain tides.", "input": "",
           "first": "Explain tides.", "second": "Explain tides in detail.", "examples": [{"prompt": "p", "answer": "a"}],
           "prompt": "Classify this."}


def test_every_template_has_both_languages():
    en = {p.name for p in ROOT.joinpath("en").iterdir()}
    zh = {p.name for p in ROOT.joinpath("zh").iterdir()}
    assert en == zh and len(en) >= 15


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", ["si_instructions", "si_classify", "si_instance_input_first", "si_instance_output_first",
                                  "evol_equal", "convert_fewshot"] + [f"evol_{op}" for op in OPERATIONS])
def test_renders_with_its_variables(name, lang):
    text = render(name, lang, **CONTEXT)
    assert text and "{{" not in text and "{%" not in text
    if name.startswith("evol_") and name != "evol_equal":
        assert "Explain tides." in text
        with_input = render(name, lang, **{**CONTEXT, "input": "TABLE-DATA"})
        assert "TABLE-DATA" in with_input


def test_unknown_language_is_a_clear_error():
    from seedtune.errors import SeedtuneError

    with pytest.raises(SeedtuneError, match="no templates for language 'fr'"):
        template_text("si_classify", "fr")
