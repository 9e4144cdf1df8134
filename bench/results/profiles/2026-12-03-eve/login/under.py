"""What a py-spy speedscope profile (--gil) spends under one function, inclusive, as shares of
the whole profile; with ``-`` for the function, the samples outside Flask's wsgi_app by their
innermost frame (the server's own Python side):

    python under.py PROFILE.json FUNCTION|- [TOP]
"""

import collections
import json
import sys


def frame_name(frame: dict) -> str:
    where = frame.get("file", "").split("site-packages/")[-1].split("/login/")[-1]
    return f"{frame['name']} ({where}:{frame.get('line')})"


def main() -> None:
    with open(sys.argv[1]) as file:
        profile = json.load(file)
    target, top = sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 40
    frames = profile["shared"]["frames"]
    total = chosen = 0.0
    inclusive: collections.Counter = collections.Counter()
    for thread in profile["profiles"]:
        for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
            names = [frame_name(frames[index]) for index in stack]
            total += weight
            if target == "-":
                if names and not any(name.startswith("Flask.wsgi_app ") for name in names):
                    chosen += weight
                    inclusive[names[-1]] += weight
                continue
            at = [k for k, name in enumerate(names) if name.startswith(target + " (")]
            if at:
                chosen += weight
                for name in set(names[at[0] + 1 :]):
                    inclusive[name] += weight
    print(f"total {total:.2f} s of samples; {target}: {100 * chosen / total:.1f} %")
    for name, weight in inclusive.most_common(top):
        print(f"{100 * weight / total:5.1f}% {name}")


if __name__ == "__main__":
    main()
