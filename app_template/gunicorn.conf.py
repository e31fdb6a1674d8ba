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
# Recycle workers now and then (bounds slow leaks); the jitter keeps them from restarting together.
max_requests = 100_000
max_requests_jitter = 10_000
# The app writes the access log itself, as JSON with the request id (app.middleware).
accesslog = None
logconfig_dict = logging_config(_settings.log_level)
# The app sits behind the ALB, which sets X-Forwarded-For/-Proto.
forwarded_allow_ips = "*"
# gunicorn's runtime control socket would need a writable home directory; nothing here uses it.
control_socket_disable = True
