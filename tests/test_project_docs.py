"""The documentation's examples run, the README shows the tested one, and links resolve."""

import pathlib
import re
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.py"))
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: pathlib.Path) -> None:
    runpy.run_path(str(example), run_name="__docs_example__")


def test_the_readme_shows_the_tested_calculator_example() -> None:
    example = (ROOT / "docs" / "examples" / "scale_calculator.py").read_text()
    assert f"```python\n{example}```" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page: pathlib.Path) -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text())
    broken = [link for link in links if "://" not in link
              and not (page.parent / link).exists()]
    assert not broken, broken
