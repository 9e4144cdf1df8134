"""gunicorn settings for Tillid (read by gunicorn from the working directory)."""

import os

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
accesslog = None  # the app writes its own JSON access log, without query strings
# Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections across them. On one shared socket, whichever worker woke first could accept a
# whole burst of keep-alive connections (a load balancer's, or a load generator's) and keep
# them while another worker sat idle. The price: connections still queued at a worker that
# dies are reset. GUNICORN_REUSE_PORT=0 goes back to one shared socket.
reuse_port = os.environ.get("GUNICORN_REUSE_PORT", "1") != "0"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    # Checked before any worker forks, whatever way the worker count was given.
    from idp.app import refuse_workers_on_embedded_store

    refuse_workers_on_embedded_store(server.cfg.workers, os.environ.get("REDIS_URL"))


def post_worker_init(worker):
    # The access ledger's integrator: new entries get their leaves and a signed checkpoint
    # every LEDGER_INTEGRATE_SECONDS (one worker at a time, by the sequencer's lock).
    from consent.ledger.sequencer import start_integrator

    start_integrator(worker.wsgi)
