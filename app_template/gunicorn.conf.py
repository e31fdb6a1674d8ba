"""gunicorn settings for the web process; every knob comes from the app's settings (environment)."""

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
# Each worker listens on its own SO_REUSEPORT socket and the kernel spreads new connections evenly.
# On one shared socket an asyncio worker accepts every pending connection at once, so a burst (an ALB
# opening connections, a rolling deploy) can leave one worker with most of them and the others idle.
reuse_port = True
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
