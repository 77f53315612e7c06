"""The documentation matches the code: every setting of crawler/settings.py has a row in
docs/settings.md and every setting documented there exists, every relative link of
README.md and docs/*.md reaches a file (and a heading, when it names one), and the README
stays the front door (the two commands on its first screen, CI running the test one).

docs/settings.md names a setting in the first column of a table row; a setting the project
documents without setting it in crawler/settings.py (Scrapy's or scrapy-playwright's, read
as it is or filled in at run time) is listed under its heading "Not in crawler/settings.py"."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from scrapy.settings import default_settings

from crawler import settings as project_settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_DOC = ROOT / "docs" / "settings.md"
NOT_SET_HEADING = "## Not in crawler/settings.py"
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

CRAWL_COMMAND = "scripts/setup.sh && .venv/bin/scrapy crawl sina_finance"
TEST_COMMAND = "scripts/setup.sh && .venv/bin/python -m pytest -n 2 --dist loadfile"
FIRST_SCREEN = 40  # lines
README_MOST_LINES = 150

_NAME = re.compile(r"`([A-Z][A-Z0-9_]*)`")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _settings_module_names() -> set[str]:
    return {name for name in vars(project_settings) if name.isupper() and not name.startswith("_")}


def _documented_names(text: str) -> set[str]:
    """Setting names in the first column of the tables of docs/settings.md."""
    names: set[str] = set()
    for line in text.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        first_cell = line.split("|")[1]
        names.update(_NAME.findall(first_cell))
    return names


def _not_set_names(text: str) -> set[str]:
    """The names listed under "Not in crawler/settings.py" (one ``- `NAME`: why`` a line)."""
    assert NOT_SET_HEADING in text, f"docs/settings.md has no {NOT_SET_HEADING!r} section"
    section = text.split(NOT_SET_HEADING, 1)[1].split("\n#", 1)[0]
    return {match.group(1) for match in re.finditer(r"^- `([A-Z][A-Z0-9_]*)`", section, re.MULTILINE)}


def test_every_setting_of_settings_py_is_documented() -> None:
    documented = _documented_names(SETTINGS_DOC.read_text(encoding="utf-8"))
    own = _settings_module_names()
    assert len(own) > 40  # the parse found the module's settings
    assert sorted(own - documented) == [], "set in crawler/settings.py, no row in docs/settings.md"


def test_every_documented_setting_exists() -> None:
    text = SETTINGS_DOC.read_text(encoding="utf-8")
    documented, not_set, own = _documented_names(text), _not_set_names(text), _settings_module_names()
    assert sorted(documented - own - not_set) == [], "in docs/settings.md, neither in crawler/settings.py nor listed"
    assert sorted(not_set & own) == [], "listed as not in crawler/settings.py, but set there"
    assert sorted(not_set - documented) == [], "listed as not in crawler/settings.py, but without a row"


def test_a_setting_not_set_by_the_project_is_scrapys_or_scrapy_playwrights() -> None:
    # Its source, read without importing it (with the lowest Scrapy the import warns).
    spec = importlib.util.find_spec("scrapy_playwright.handler")
    assert spec is not None and spec.origin is not None
    playwright_source = Path(spec.origin).read_text(encoding="utf-8")
    for name in _not_set_names(SETTINGS_DOC.read_text(encoding="utf-8")):
        assert hasattr(default_settings, name) or f'"{name}"' in playwright_source, name


def test_the_settings_check_sees_a_missing_row_and_a_stray_one() -> None:
    """The two checks above can fail: a table without a row, a row of no setting."""
    text = "| setting | default |\n|---|---|\n| `HEXO_FSYNC` / `SINA_NOT_A_SETTING` | `True` |\n"
    assert _documented_names(text) == {"HEXO_FSYNC", "SINA_NOT_A_SETTING"}
    assert "SINA_LOCK_WAIT" in _settings_module_names() - _documented_names(text)
    assert "SINA_NOT_A_SETTING" not in _settings_module_names()


# --- links ------------------------------------------------------------------------------


def _prose(text: str) -> str:
    """The text without code blocks and code spans (a link in code is not a link)."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text without markup, lower case, punctuation
    removed (word characters, spaces and hyphens kept), spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = "".join(char for char in text.lower() if char.isalnum() or char in "_- ")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        slug, number = _slug(heading), 0
        while (candidate := slug if number == 0 else f"{slug}-{number}") in anchors:
            number += 1
        anchors.add(candidate)
    return anchors


def _broken_links(document: Path, root: Path = ROOT) -> list[str]:
    """Each relative link of ``document`` that reaches no file under ``root``, or no heading."""
    broken = []
    for target in _LINK.findall(_prose(document.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:: not ours to check
            continue
        path_part, _, anchor = target.partition("#")
        path = (document.parent / path_part).resolve() if path_part else document
        if not path.is_relative_to(root) or not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            broken.append(f"{target}: no heading #{anchor} in {path.relative_to(root)}")
    return broken


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    assert _broken_links(document) == []


def test_links_and_anchors_are_read_as_github_reads_them() -> None:
    assert _slug("Not in crawler/settings.py") == "not-in-crawlersettingspy"
    assert _slug("1. A 7×24 flash (`kind: zhibo` sections)") == "1-a-724-flash-kind-zhibo-sections"
    assert _slug("Checks by name: [nox](https://nox.thea.codes/)") == "checks-by-name-nox"
    assert _prose("`[x](gone.md)` [y](here.md)\n```\n[z](gone.md)\n```\n") == " [y](here.md)\n\n"
    assert _LINK.findall("[a](settings.md#output) ![b](x.png) [c](https://example.org)") == [
        "settings.md#output",
        "x.png",
        "https://example.org",
    ]


def test_a_broken_link_is_reported(tmp_path: Path) -> None:
    """The check can fail: a missing file, a missing heading, a file outside the repository."""
    (tmp_path / "docs").mkdir()
    document = tmp_path / "docs" / "a.md"
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## Here\n\n## Here\n", encoding="utf-8")
    document.write_text(
        "# A\n[ok](b.md#here-1) [no file](c.md) [no heading](b.md#there) [self](#a) [up](../../x.md)\n",
        encoding="utf-8",
    )
    assert _broken_links(document, root=tmp_path) == [
        "c.md: no such file",
        "b.md#there: no heading #there in docs/b.md",
        "../../x.md: no such file",
    ]


def test_scrapy_cfg_points_at_a_page_and_heading_that_exist() -> None:
    pointers = re.findall(r"(docs/[\w.-]+\.md)#([\w-]+)", (ROOT / "scrapy.cfg").read_text(encoding="utf-8"))
    assert pointers, "scrapy.cfg says where deploying is documented"
    for page, anchor in pointers:
        assert (ROOT / page).is_file(), page
        assert anchor in _anchors(ROOT / page), f"no heading #{anchor} in {page}"


# --- the front door ---------------------------------------------------------------------


def test_the_readme_is_the_front_door() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MOST_LINES, f"README.md has {len(lines)} lines: move the detail to docs/"
    first_screen = "\n".join(lines[:FIRST_SCREEN])
    assert CRAWL_COMMAND in first_screen and TEST_COMMAND in first_screen


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert TEST_COMMAND in ci, ".ci/run must run the README's test command, exactly, on a line of its own"


def test_every_page_of_docs_is_reached_from_the_readme() -> None:
    readme = _prose((ROOT / "README.md").read_text(encoding="utf-8"))
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _LINK.findall(readme)}
    assert sorted(path.name for path in (ROOT / "docs").glob("*.md") if path.resolve() not in linked) == []
