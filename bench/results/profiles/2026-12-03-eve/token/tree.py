"""A py-spy speedscope profile (gzip or not) as a call tree below the first frame whose name
holds ROOT, each node's share of ROOT's samples (ROOT's own share of all samples first).

    python tree.py PROFILE ROOT [--threshold 0.01] [--depth 12]

e.g. `tree.py before/cc-es256.speedscope.json.gz "Flask.__call__"`: what one Flask request
of a client_credentials grant spent, by caller and line.
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import defaultdict


def _name(frame: dict) -> str:
    path = frame.get("file", "")
    for marker in ("site-packages/", "/wt/token/", "/lib/python3.11/"):
        path = path.split(marker, 1)[-1]
    return f"{frame['name']} {path}:{frame.get('line', '')}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("root")
    parser.add_argument("--threshold", type=float, default=0.01)
    parser.add_argument("--depth", type=int, default=12)
    options = parser.parse_args()
    opener = gzip.open if options.profile.endswith(".gz") else open
    with opener(options.profile, "rt") as profile:
        document = json.load(profile)
    names = [_name(frame) for frame in document["shared"]["frames"]]
    counts: dict[tuple, float] = defaultdict(float)
    total = 0.0
    for thread in document["profiles"]:
        for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
            total += weight
            frames = [names[i] for i in stack]
            start = next((k for k, n in enumerate(frames) if options.root in n), None)
            if start is None:
                continue
            path: tuple = ()
            counts[path] += weight
            for frame in frames[start : start + options.depth]:
                path += (frame,)
                counts[path] += weight
    base = counts[()]
    if not base:
        raise SystemExit(f"no sample has a frame named like {options.root!r}")
    print(f"{options.root}: {base / total:.1%} of all samples; below, shares of it")

    def show(prefix: tuple, level: int) -> None:
        children = [p for p in counts if len(p) == len(prefix) + 1 and p[: len(prefix)] == prefix]
        for child in sorted(children, key=lambda p: -counts[p]):
            if counts[child] / base >= options.threshold:
                print(f"{'  ' * level}{counts[child] / base:6.1%} {child[-1]}")
                show(child, level + 1)

    show((), 0)


if __name__ == "__main__":
    main()
