"""Shares of a py-spy speedscope profile (--gil) by the view a sample is under, and the
heaviest functions inclusive:

    python by_view.py PROFILE.json [TOP]
"""

import collections
import json
import sys

VIEW_FILES = ("views.py", "authorize.py", "service_endpoints.py")
# The two checkouts the profiles were taken in, left out of the file names.
TREES = ("/work/wt/login/", "/tmp/login-base/")  # noqa: S108 (names in a profile, not files)


def frame_name(frame: dict) -> str:
    where = frame.get("file", "").split("site-packages/")[-1]
    for tree in TREES:
        where = where.replace(tree, "")
    return f"{frame['name']} ({where})"


def view_of(names: list[str]) -> str:
    for name in names:
        in_a_view = any(file in name for file in VIEW_FILES)
        if in_a_view and "wrapper" not in name and "__inner" not in name:
            return name.split(" (")[0]
    return "<machinery>"


def main() -> None:
    with open(sys.argv[1]) as file:
        profile = json.load(file)
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    frames = profile["shared"]["frames"]
    total = 0
    by_view: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    for thread in profile["profiles"]:
        for stack, weight in zip(thread["samples"], thread["weights"], strict=True):
            names = [frame_name(frames[index]) for index in stack]
            total += weight
            if not any("wsgi_app" in name for name in names):
                by_view["<outside wsgi_app>"] += weight
                continue
            by_view[view_of(names)] += weight
            for name in set(names):
                inclusive[name] += weight
    print("total", total)
    for view, weight in by_view.most_common(20):
        print(f"{100 * weight / total:5.1f}% view {view}")
    print()
    for name, weight in inclusive.most_common(top):
        print(f"{100 * weight / total:5.1f}% {name}")


if __name__ == "__main__":
    main()
