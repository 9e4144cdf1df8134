"""In-process timing of userinfo's citizen read: as committed, and in AUTOCOMMIT (README).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/tillid_bench_userinfo \
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python autocommit_read.py

Run from the worktree, on a bench database that record.py or ab.py has seeded.
"""

import time

from sqlalchemy import select

from consent import release
from idp.app import create_app
from idp.citizens.models import Citizen
from idp.core.extensions import db


def main() -> None:
    app = create_app()
    with app.app_context():
        citizen_id = db.session.scalar(select(Citizen.id).limit(1))
        db.session.remove()
        bound = {"citizen_id": citizen_id, "client_id": "x"}

        def default():
            with db.engine.connect() as connection:
                return connection.execute(release._CITIZEN_WITH_CONSENT, bound).first()

        def autocommit():
            options = {"isolation_level": "AUTOCOMMIT"}
            with db.engine.connect().execution_options(**options) as connection:
                return connection.execute(release._CITIZEN_WITH_CONSENT, bound).first()

        for read in (default, autocommit, default, autocommit):
            for _ in range(200):
                read()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(2000):
                read()
            cpu_us = (time.process_time() - cpu) / 2000 * 1e6
            wall_us = (time.perf_counter() - wall) / 2000 * 1e6
            print(f"{read.__name__}: {cpu_us:.0f} us CPU, {wall_us:.0f} us wall per read")


if __name__ == "__main__":
    main()
