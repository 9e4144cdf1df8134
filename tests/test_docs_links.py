"""Every relative link in README.md and docs/*.md leads somewhere: the file exists, and an
#anchor names a heading of that file as GitHub makes anchors from headings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target); a target ends at the first space (a title may follow).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, with their line numbers."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: the text as shown, lowercased, every character that is
    not a letter, digit, space, hyphen or underscore dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link shows its text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML shows nothing of its tags
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor GitHub gives the headings of one file (a repeated one gets -1, -2, …)."""
    seen: dict[str, int] = {}
    found = set()
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        anchor = github_anchor(match.group(2))
        if anchor in seen:
            seen[anchor] += 1
            anchor = f"{anchor}-{seen[anchor]}"
        else:
            seen[anchor] = 0
        found.add(anchor)
    return found


def broken_links(path: Path) -> list[str]:
    """Each relative link of one Markdown file that leads nowhere, as 'line N: target (why)'."""
    problems = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", line)  # `[a](b)` in code is not a link
        for match in LINK.finditer(line):
            target = match.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
                continue  # https:, mailto: and the like: not checked here
            file_part, _, fragment = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                problems.append(f"line {number}: {target} (no such file)")
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                problems.append(f"line {number}: {target} (no heading #{fragment})")
    return problems


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_anchor_resolves(path):
    assert broken_links(path) == []


def test_the_docs_are_found():
    names = {p.name for p in DOCUMENTS}
    assert {"README.md", "architecture.md", "configuration.md", "security.md"} <= names


def test_anchors_follow_githubs_rule():
    assert github_anchor("FAPI 2.0: pushed requests, DPoP and private_key_jwt") == (
        "fapi-20-pushed-requests-dpop-and-private_key_jwt"
    )
    assert github_anchor("APIs for authorities, and for the citizen's own apps") == (
        "apis-for-authorities-and-for-the-citizens-own-apps"
    )
    assert github_anchor("Backchannel login on the phone (CIBA)") == (
        "backchannel-login-on-the-phone-ciba"
    )
    assert github_anchor("`make bench` — the figures") == "make-bench--the-figures"
    assert github_anchor("Æble og øl") == "æble-og-øl"


def test_a_broken_file_link_and_a_broken_anchor_are_found(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## Real section\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n## Here\n\n## Here\n\n"
        "[ok](other.md#real-section) [ok](#here) [ok](#here-1) [web](https://example.org/x)\n"
        "`[code](missing.md)`\n\n```\n[fenced](missing.md)\n```\n"
        "[gone](missing.md) [bad](other.md#no-such-section) [bad here](#nowhere)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "line 13: missing.md (no such file)",
        "line 13: other.md#no-such-section (no heading #no-such-section)",
        "line 13: #nowhere (no heading #nowhere)",
    ]
