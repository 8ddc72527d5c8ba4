"""The README stays a short door: under its line budget, and every relative link in it leads somewhere (the file
exists; an #anchor into a Markdown page names one of its headings, as GitHub slugs them)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_LINES = 200  # issue 35: what it is, results, set-up-and-run, tests, links; detail lives in docs/

# [text](target) and ![alt](target); a target ends at whitespace (an optional "title") or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks: a `# comment` in a shell block is no heading, `[x](y)` in code no link."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def plain_text(heading: str) -> str:
    """A heading's text as rendered: links reduced to their text, code and emphasis marks dropped."""
    heading = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[`*]", "", heading)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, everything but letters, digits, underscores, hyphens and spaces
    removed, then each space a hyphen."""
    kept = re.sub(r"[^\w\- ]", "", plain_text(heading).strip().lower())
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor on `page`; a repeated heading gets -1, -2, ... as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    targets = [t for line in prose_lines(page.read_text(encoding="utf-8")) for t in LINK.findall(line)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.IGNORECASE)]  # http:, mailto: ...


def test_github_slug_matches_githubs_anchors():
    # Anchors as github.com renders them for these headings.
    assert github_slug("Recipes at a budget: `budget_recipes.py`") == "recipes-at-a-budget-budget_recipespy"
    assert github_slug("One machine: `train.nproc`") == "one-machine-trainnproc"
    assert github_slug("Robustness: accuracy under image corruptions") == \
        "robustness-accuracy-under-image-corruptions"
    assert github_slug("What the model learned: t-SNE") == "what-the-model-learned-t-sne"


def test_links_and_headings_in_code_blocks_do_not_count(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n```bash\n# a comment\n[not](a-link.md)\n```\n\n## Title\n[real](other.md#title-1)\n")
    assert anchors(page) == {"title", "title-1"}
    assert relative_links(page) == ["other.md#title-1"]


def test_readme_is_at_most_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


@pytest.mark.parametrize("target", relative_links(README))
def test_readme_relative_link_resolves(target):
    path, _, anchor = target.partition("#")
    page = (README.parent / path).resolve() if path else README
    assert page.is_relative_to(ROOT), f"{target} leads outside the repository"
    assert page.exists(), f"{target}: {page.relative_to(ROOT)} does not exist"
    if anchor and page.suffix == ".md":
        assert anchor in anchors(page), f"{target}: no heading of {page.relative_to(ROOT)} has the anchor #{anchor}"
