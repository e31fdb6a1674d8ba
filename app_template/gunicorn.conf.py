"""gunicorn settings for the web process; every knob comes from the app's settings (environment)."""

import errno
import socket
from typing import Any

from app.logs import logging_config
from app.settings import get_settings

_settings = get_settings()

bind = f"{_settings.bind_host}:{_settings.port}"
workers = _settings.workers
worker_class = "app.server.Worker"
# Longer than the ALB's 60 s idle timeout: the load balancer must close idle connections, never us,
# or a request it sends on a connection we are closing comes back as a 502.
keepalive = 75
graceful_timeout = int(_settings.graceful_timeout_seconds)
timeout = 60
# One listening socket, opened by the master and shared by every worker: a connection the kernel has
# accepted waits in that one queue until some worker takes it, so none is lost when a worker stops,
# is recycled or is still booting. (SO_REUSEPORT would give each worker a queue of its own, which the
# kernel resets when that worker closes it: a 502 behind the ALB for every connection in it. It would
# also let a second server bind the same port and take half the requests.)
reuse_port = False
# Recycle workers now and then (bounds slow leaks); the jitter keeps them from restarting together.
# Rarely: a restart drops the worker's in-process cache and pools, and closes its connections, which
# at a few thousand requests per second a smaller count would do every minute.
max_requests = _settings.max_requests_per_worker
max_requests_jitter = _settings.max_requests_per_worker // 10
# The app writes the access log itself, as JSON with the request id (app.middleware).
accesslog = None
logconfig_dict = logging_config(_settings.log_level)
# The app sits behind the ALB, which sets X-Forwarded-For/-Proto.
forwarded_allow_ips = "*"
# gunicorn's runtime control socket would need a writable home directory; nothing here uses it.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """A port another server holds stops this one at once with one line, instead of gunicorn's five
    one-second retries."""
    with socket.socket(socket.AF_INET6 if ":" in _settings.bind_host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((_settings.bind_host, _settings.port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise
            raise SystemExit(
                f"port {_settings.port} on {_settings.bind_host} is already in use by another server: "
                "stop it, or set PORT to a free port"
            ) from None
