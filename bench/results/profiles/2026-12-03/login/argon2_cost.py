"""CPU time of one argon2id verify (argon2-cffi, as idp/core/passwords.py runs it) at the old
parameters, the new default and OWASP's other minimum configurations, in alternating rounds.

    .venv/bin/python bench/results/profiles/2026-12-03/login/argon2_cost.py [--rounds N]

CPU is this process's user + system time (libargon2 runs p > 1 lanes on threads of its own,
so CPU can exceed the wall time). Prints one JSON document: per configuration the median
CPU and wall ms over all rounds (each round: 10 verifies).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

from argon2 import PasswordHasher, Type

CONFIGURATIONS = {  # (time cost, memory KiB, lanes)
    "old default (RFC 9106 second recommendation)": (3, 64 * 1024, 4),
    "OWASP 19 MiB, t=2": (2, 19 * 1024, 1),
    "OWASP 46 MiB, t=1": (1, 46 * 1024, 1),
    "OWASP 12 MiB, t=3": (3, 12 * 1024, 1),
    "OWASP 9 MiB, t=4": (4, 9 * 1024, 1),
    "new default = Keycloak's = OWASP 7 MiB, t=5": (5, 7 * 1024, 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    hashers = {name: PasswordHasher(time_cost=t, memory_cost=m, parallelism=p, type=Type.ID)
               for name, (t, m, p) in CONFIGURATIONS.items()}  # fmt: skip
    hashes = {name: hasher.hash("bench-Fjord-Solsikke-7") for name, hasher in hashers.items()}
    cpu = {name: [] for name in hashers}
    wall = {name: [] for name in hashers}
    for _ in range(rounds):
        for name, hasher in hashers.items():
            for _ in range(10):
                started, used = time.perf_counter(), time.process_time()
                hasher.verify(hashes[name], "bench-Fjord-Solsikke-7")
                cpu[name].append((time.process_time() - used) * 1000)
                wall[name].append((time.perf_counter() - started) * 1000)
    print(json.dumps({
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load": os.getloadavg(),
        "rounds": rounds,
        "verify": {name: {"t_m_p": CONFIGURATIONS[name],
                          "cpu_ms_median": round(statistics.median(cpu[name]), 1),
                          "wall_ms_median": round(statistics.median(wall[name]), 1)}
                   for name in hashers},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
