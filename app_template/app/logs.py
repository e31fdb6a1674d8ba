"""JSON logs on stdout, one object per line, for the app and for the libraries under it."""

import logging
import logging.config
import sys
from typing import Any, cast

import orjson
import structlog
from structlog.typing import EventDict, FilteringBoundLogger

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.format_exc_info,
]


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default).decode()


def logging_config(level: str) -> dict[str, Any]:
    """A dictConfig that routes gunicorn, uvicorn, alembic and celery records through the JSON renderer."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.JSONRenderer(serializer=_orjson_dumps),
                ],
                "foreign_pre_chain": _SHARED_PROCESSORS,
            }
        },
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "json"}
        },
        "root": {"handlers": ["stdout"], "level": level.upper()},
        # The app writes its own access log (with the request id); uvicorn's would duplicate it.
        "loggers": {
            "uvicorn.access": {"handlers": [], "propagate": False},
            "gunicorn.access": {"handlers": [], "propagate": False},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.error": {"handlers": [], "propagate": True},
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure_logging(level: str) -> None:
    logging.config.dictConfig(logging_config(level))
    # The app's own records (the access log among them, one per request) skip the stdlib machinery:
    # a native structlog logger that writes orjson bytes costs a fraction of a stdlib record.
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _rename_logger_key,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> FilteringBoundLogger:
    """A logger whose lines carry `logger: name`, like the lines of the stdlib loggers."""
    # Bound lazily as "logger_name" ("logger" is get_logger's own parameter); _rename_logger_key fixes
    # the key. Binding with .bind() here would freeze the configuration in force at import time.
    return cast(FilteringBoundLogger, structlog.get_logger(logger_name=name))


def _rename_logger_key(_: Any, __: str, event_dict: EventDict) -> EventDict:
    if "logger_name" in event_dict:
        event_dict["logger"] = event_dict.pop("logger_name")
    return event_dict
