"""Where the samples under one frame went, in a py-spy speedscope profile (gzipped or not):

    python top.py PROFILE.speedscope.json.gz "FRAME TEXT" [ROWS]

prints the share of the samples under the first frame whose name contains FRAME TEXT spent
in each frame below it (inclusive), then by the innermost frame (self)."""

import collections
import gzip
import json
import sys

path, root = sys.argv[1], sys.argv[2]
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 40
with (gzip.open if path.endswith(".gz") else open)(path, "rt") as file:
    profile = json.load(file)
frames = profile["shared"]["frames"]


def name(index: int) -> str:
    frame = frames[index]
    where = "/".join(frame.get("file", "").split("/")[-2:])
    return f"{frame['name']} ({where}:{frame.get('line', '')})"


inclusive, innermost, total = collections.Counter(), collections.Counter(), 0.0
for thread in profile["profiles"]:
    for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
        names = [name(index) for index in stack]
        starts = [n for n, text in enumerate(names) if root in text]
        if not starts:
            continue
        below = names[starts[0] :]
        total += weight
        for text in set(below):
            inclusive[text] += weight
        innermost[below[-1]] += weight
print("samples (s)", round(total, 2))
for text, weight in inclusive.most_common(rows):
    print(f"{100 * weight / total:5.1f}% {text}")
print("--- innermost")
for text, weight in innermost.most_common(25):
    print(f"{100 * weight / total:5.1f}% {text}")
