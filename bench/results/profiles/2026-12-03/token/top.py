"""The functions seen most in a py-spy speedscope profile: own samples and samples anywhere
on the stack, and the share of samples under any frame whose file or name matches a pattern.

    python top.py PROFILE.speedscope.json [--count N] [--match PATTERN ...]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile")
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--match", nargs="*", default=[])
    options = parser.parse_args()
    with open(options.profile) as file:
        document = json.load(file)
    frames = document["shared"]["frames"]
    names = [f"{f['name']} ({f['file'].rsplit('site-packages/', 1)[-1]}:{f['line']})"
             for f in frames]  # fmt: skip
    own, anywhere, matched, total = Counter(), Counter(), Counter(), 0
    for profile in document["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            if stack:
                own[names[stack[-1]]] += weight
            for index in set(stack):
                anywhere[names[index]] += weight
            text = [names[i] for i in stack]
            for pattern in options.match:
                if any(pattern in t for t in text):
                    matched[pattern] += weight
    print(f"{total} samples")
    for pattern in options.match:
        print(f"  {matched[pattern] / total:6.1%}  under {pattern}")
    for title, counts in (("own", own), ("including callees", anywhere)):
        print(f"-- {title}")
        for frame, n in counts.most_common(options.count):
            print(f"  {n / total:6.1%}  {frame}")


if __name__ == "__main__":
    main()
