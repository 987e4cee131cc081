"""docs/configuration.md is generated from the settings model and must match it.

A field added to ``producer/settings/model.py`` makes the committed page stale; the failure
message says the one command that regenerates it. Also checks that the generator covers every
variable and that its ``--check`` mode reports a stale file.
"""

from __future__ import annotations

from pathlib import Path

from producer.settings.doc import DOC_PATH, main, render_configuration_doc, variable_names


def test_committed_page_matches_the_settings_model() -> None:
    """The committed docs/configuration.md is what the generator renders now."""
    assert DOC_PATH.is_file(), (
        "docs/configuration.md is missing: run python -m producer.settings.doc"
    )
    assert DOC_PATH.read_text(encoding="utf-8") == render_configuration_doc(), (
        "docs/configuration.md is out of date with producer/settings/model.py: "
        "run `python -m producer.settings.doc` and commit the result"
    )


def test_every_variable_is_documented_with_a_meaning() -> None:
    """Each MESH_ variable the model reads appears, and none lacks a description."""
    page = render_configuration_doc()
    for name in variable_names():
        domain_form = name
        for domain in ("TELEPHONY", "QUALITY", "WFM"):
            domain_form = domain_form.replace(f"MESH_{domain}__", "MESH_{DOMAIN}__")
        assert f"`{domain_form}`" in page, name
    assert "(no description" not in page, (
        "a setting has no description: add Field(description=...) in producer/settings/model.py"
    )


def test_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    """--check fails on a stale or missing file and passes once the page is written."""
    path = tmp_path / "configuration.md"
    assert main(["--check", str(path)]) == 1
    path.write_text("# stale\n", encoding="utf-8")
    assert main(["--check", str(path)]) == 1
    assert main([str(path)]) == 0
    assert main(["--check", str(path)]) == 0
    assert path.read_text(encoding="utf-8") == render_configuration_doc()
