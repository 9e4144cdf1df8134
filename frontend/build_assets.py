"""Take Det Fælles Designsystem's built files from the pinned npm package into idp/static/dkfds/.

Run by `make assets` after `npm ci --prefix frontend`. What it copies, byte for byte:
the theme's minified CSS, the fonts and icons that CSS points at (same relative layout, so
its url()s resolve), the icon sprite and the licences; then it writes a README saying where
each file came from. The result is committed, so `make run` needs no npm;
tests/idp/test_design_assets.py checks it matches what this script makes from the pin.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "frontend" / "node_modules" / "dkfds"
TARGET = ROOT / "idp" / "static" / "dkfds"

# The plain theme: the borger.dk and virk.dk themes carry those portals' logos and colours,
# which belong to them, not to a login service of its own.
THEME_CSS = "css/dkfds.min.css"
SPRITE = "img/all-svg-icons.svg"
LICENCES = ("LICENSE.md", "fonts/IBMPlexSans/complete/woff2/license.txt")

_URL = re.compile(r"url\(\s*['\"]?([^'\")]+?)['\"]?\s*\)")
_FONT_FACE = re.compile(r"@font-face\s*{([^}]*)}")


def referenced(css: str) -> list[str]:
    """The files the stylesheet's url()s point at, relative to dist/ (it lives in dist/css/)."""
    paths = []
    for url in _URL.findall(css):
        if url.startswith(("data:", "#", "http:", "https:")):
            continue
        if not url.startswith("../"):
            raise SystemExit(f"unexpected url() in {THEME_CSS}: {url}")
        paths.append(url.removeprefix("../").split("?")[0].split("#")[0])
    return sorted(set(paths))


def wanted(path: str) -> bool:
    """WOFF2 fonts and SVG icons; every browser that runs this CSS reads WOFF2, so the EOT,
    TTF and WOFF fallbacks stay out, as do the placeholder logos (the pages use no .logo)."""
    if path.startswith("fonts/"):
        return path.endswith(".woff2")
    return path.startswith("img/svg-icons/") and path.endswith(".svg")


def check_fonts_have_woff2(css: str) -> None:
    for face in _FONT_FACE.findall(css):
        if "url(" in face and ".woff2" not in face:
            raise SystemExit(f"a @font-face in {THEME_CSS} has no WOFF2 source: {face[:120]}")


def build(package: Path, target: Path) -> list[tuple[str, int]]:
    dist = package / "dist"
    version = json.loads((package / "package.json").read_text())["version"]
    css = (dist / THEME_CSS).read_text(encoding="utf-8")
    check_fonts_have_woff2(css)
    files = [THEME_CSS, SPRITE, *LICENCES, *(p for p in referenced(css) if wanted(p))]
    if target.exists():
        shutil.rmtree(target)
    copied = []
    for name in sorted(set(files)):
        source = dist / name
        if not source.is_file():
            raise SystemExit(f"{source} is missing from the dkfds package")
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / name)
        copied.append((name, source.stat().st_size))
    (target / "README.md").write_text(readme(version, copied), encoding="utf-8")
    return copied


def readme(version: str, copied: list[tuple[str, int]]) -> str:
    total = sum(size for _, size in copied)
    fonts = [(n, s) for n, s in copied if n.endswith(".woff2")]
    icons = [(n, s) for n, s in copied if n.startswith("img/svg-icons/")]
    lines = [
        "# Det Fælles Designsystem, as Tillid serves it",
        "",
        f"Taken unchanged from the npm package `dkfds` version {version} (pinned in",
        "`frontend/package-lock.json`), directory `dist/`, by `make assets`",
        "(`frontend/build_assets.py`). Do not edit these files: change the pin and rebuild.",
        "",
        "- `css/dkfds.min.css`: the plain theme (not borger.dk's or virk.dk's).",
        f"- `fonts/`: the {len(fonts)} IBM Plex Sans faces that CSS uses, WOFF2 only"
        f" ({sum(s for _, s in fonts) // 1024} KiB).",
        f"- `img/svg-icons/`: the {len(icons)} icons that CSS points at"
        f" ({sum(s for _, s in icons) // 1024} KiB); `img/all-svg-icons.svg`: the icon sprite.",
        "- `LICENSE.md`: the design system's licences: MIT for the code, SIL Open Font",
        "  License 1.1 for IBM Plex Sans (its text: `fonts/.../woff2/license.txt`), Apache 2.0",
        "  for the icons.",
        "",
        f"{len(copied)} files, {total // 1024} KiB in all:",
        "",
    ]
    lines += [f"- `{n}`: {s:,} bytes" for n, s in copied if not n.startswith("img/svg-icons/")]
    lines.append(f"- `img/svg-icons/*.svg`: {len(icons)} files")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", type=Path, default=PACKAGE, help="the installed dkfds")
    parser.add_argument("--out", type=Path, default=TARGET, help="where the files go")
    args = parser.parse_args(argv)
    if not (args.package / "package.json").is_file():
        print(f"{args.package} is not there: run npm ci --prefix frontend", file=sys.stderr)
        return 1
    copied = build(args.package, args.out)
    print(f"{len(copied)} files from dkfds into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
