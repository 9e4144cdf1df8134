"""gunicorn settings for Tillid (read by gunicorn from the working directory)."""

import logging
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
# ACCESS_LOG_STATIC=0 leaves the design system's files out of the app's access log (`make
# run` does: a page brings a dozen of them, and the terminal should show the pages).
access_log_static = os.environ.get("ACCESS_LOG_STATIC", "1") != "0"


class NamesTheAddress(logging.Filter):
    """gunicorn's start line names its listening sockets; with reuse_port the master opens
    none (each worker binds its own), and the line would say "Listening at:  (pid)". It
    names the addresses the workers bind instead."""

    def __init__(self, binds: list[str]):
        super().__init__()
        self.addresses = ",".join(
            bind if bind.startswith(("unix:", "fd://")) else f"http://{bind}" for bind in binds
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Listening at:") and record.args and not record.args[0]:
            record.args = (self.addresses, *record.args[1:])
        return True


class NotStaticFiles(logging.Filter):
    """The access log without the requests for static files (the route /static/…)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(getattr(record, "path", "")).startswith("/static/")


def on_starting(server):
    # Checked before any worker forks, whatever way the worker count was given.
    from idp.app import refuse_workers_on_embedded_store

    refuse_workers_on_embedded_store(server.cfg.workers, os.environ.get("REDIS_URL"))
    logging.getLogger("gunicorn.error").addFilter(NamesTheAddress(server.cfg.bind))
    if not access_log_static:
        # On the logger itself, before the workers fork: each inherits it, and no handler
        # the app installs later bypasses it.
        from idp.core.logs import ACCESS_LOGGER

        logging.getLogger(ACCESS_LOGGER).addFilter(NotStaticFiles())


def post_worker_init(worker):
    # The access ledger's integrator: new entries get their leaves and a signed checkpoint
    # every LEDGER_INTEGRATE_SECONDS (one worker at a time, by the sequencer's lock).
    from consent.ledger.sequencer import start_integrator

    start_integrator(worker.wsgi)
