"""The figures page and the README's figures table are renderings of figures.json, which
only the bench scripts write (bench/_figures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import _figures
from bench._figures import Figure, load, record, render_page, render_readme_block, with_block


def _fig(figure: str, runtime: str, value: str, headline: bool = True) -> Figure:
    return Figure("bench/x.py", figure, runtime, value, "≤ 3", float(value) <= 3,
                  "2026-12-07", "2 cores, load average 0.3", headline)


def test_committed_pages_are_the_rendering_of_figures_json() -> None:
    # GIVEN the committed figures
    figures = load()
    assert figures, "docs/reference/figures.json holds no figure"
    # THEN the figures page and the README block are exactly what the bench scripts render
    assert _figures.FIGURES_PAGE.read_text(encoding="utf-8") == render_page(figures), (
        "benchmark-figures.md differs from figures.json: run `python -m bench._figures`")
    readme = _figures.README.read_text(encoding="utf-8")
    assert with_block(readme, render_readme_block(figures)) == readme, (
        "README.md's figures table differs from figures.json: run `python -m bench._figures`")


def test_record_replaces_the_figure_it_measured_again_and_keeps_the_others(
        tmp_path: Path) -> None:
    # GIVEN two recorded figures and a README with a figures block between other text
    json_path, page, readme = tmp_path / "f.json", tmp_path / "p.md", tmp_path / "R.md"
    readme.write_text(f"# top\n\n{_figures.BEGIN}\nold\n{_figures.END}\n\n## rest\n",
                      encoding="utf-8")
    record([_fig("ratio", "PySpark 3.5.4", "3.76"), _fig("ratio", "PySpark 4.1.1", "3.54"),
            _fig("detail", "PySpark 4.1.1", "1.0", headline=False)], json_path, page, readme)

    # WHEN the 4.1.1 ratio is measured again
    record([_fig("ratio", "PySpark 4.1.1", "2.80")], json_path, page, readme)

    # THEN it replaces the old value, the other runtime and figure stay, in their order
    got = load(json_path)
    assert [(f.figure, f.runtime, f.value) for f in got] == [
        ("ratio", "PySpark 3.5.4", "3.76"), ("ratio", "PySpark 4.1.1", "2.80"),
        ("detail", "PySpark 4.1.1", "1.0")]
    # AND the README block has one row per headline figure, a column per runtime, the
    # verdict of the newest runtime, and the text around it untouched
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# top\n\n") and text.endswith("\n\n## rest\n")
    assert "old" not in text and "detail" not in text
    assert "| `bench/x.py` | ratio | 3.76 | 2.80 | ≤ 3 ✔ |" in text
    assert "| PySpark 3.5.4 | PySpark 4.1.1 |" in text
    # AND the page lists every figure with its verdict
    shown = page.read_text(encoding="utf-8")
    assert "| detail | PySpark 4.1.1 | 1.0 | ≤ 3 ✔ |" in shown
    assert "| ratio | PySpark 3.5.4 | 3.76 | ≤ 3 ✘ |" in shown


def test_a_readme_without_the_block_is_refused() -> None:
    with pytest.raises(ValueError, match="figures"):
        with_block("# no block\n", "x")
