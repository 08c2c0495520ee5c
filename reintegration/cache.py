"""Django's Redis cache, failing open: when Redis cannot be reached a read is a miss and a write
is dropped, so a Redis outage costs the API its rate limits and its cached summaries, never a
request.

Nothing in the cache is needed to answer a request: throttle counts, summaries that can be
computed again, health probes. So :class:`FailOpenRedisCache` (Django's own ``RedisCache``, with
its key format and serializer) answers every call without Redis when Redis fails: ``get`` the
default, ``set`` nothing, ``add``/``touch``/``delete``/``has_key`` ``False``, ``incr`` as for a
missing key. After a failure it does not ask Redis again for ``circuit_seconds`` (an
``OPTIONS`` entry): a Redis that hangs costs one request the socket timeout, not every request.
Once that time has passed the next call asks again, and the first success ends the outage.

It logs one warning when an outage starts, one every minute while it lasts (with how many calls
were answered without Redis) and one line when Redis is back: an outage does not flood the log.
:func:`cache_outage` tells the code that cares (the throttle, the summaries, ``/health/``) that
an outage is going on.

django-redis's ``IGNORE_EXCEPTIONS`` does the fail-open part, but it is another backend (its own
client, key format and settings), logs every ignored error, and still waits the timeout on each
call while Redis hangs.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

DEFAULT_CIRCUIT_SECONDS = 5.0
# While an outage lasts, a reminder at most this often.
REMINDER_SECONDS = 60.0

T = TypeVar("T")
_outage_numbers = itertools.count(1)


class LogEvery:
    """At most one log line per topic every ``seconds``, in this process: a failure that
    repeats on every request must not flood the log."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._said: dict[str, float] = {}
        self._lock = threading.Lock()

    def due(self, topic: str) -> bool:
        """True (and the topic counted as said now) if ``topic`` was not said lately."""
        now = time.monotonic()
        with self._lock:
            last = self._said.get(topic)
            if last is not None and now - last < self.seconds:
                return False
            self._said[topic] = now
            return True


@dataclass
class Outage:
    """Redis at ``where`` has not answered since ``started`` (``time.monotonic()``)."""

    where: str
    started: float
    error: str
    number: int = field(default_factory=lambda: next(_outage_numbers))
    answered_without: int = 0  # calls answered with their fallback meanwhile
    _said: LogEvery = field(default_factory=lambda: LogEvery(REMINDER_SECONDS))

    def warn(self, log: logging.Logger, topic: str, message: str, *args: Any) -> None:
        """Log ``message`` as a warning once for this outage per ``topic``, and again at
        most every :data:`REMINDER_SECONDS` while it lasts."""
        if self._said.due(topic):
            log.warning(message, *args)


class _Circuit:
    """Whether to ask Redis at ``where`` now; one per Redis server and process, shared by the
    cache objects of every thread."""

    def __init__(self, where: str, seconds: float) -> None:
        self.where = where
        self.seconds = seconds
        self.outage: Outage | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    def allows(self) -> bool:
        if self.outage is None:  # the usual case, without taking the lock
            return True
        with self._lock:
            outage = self.outage
            if outage is None or time.monotonic() >= self._retry_at:
                return True
            outage.answered_without += 1
            return False

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        # The class only: a message may carry the server's address and port.
        text = type(error).__name__
        with self._lock:
            self._retry_at = now + self.seconds
            outage, started = self.outage, self.outage is None
            if outage is None:
                outage = self.outage = Outage(where=self.where, started=now, error=text)
            outage.answered_without += 1
        if started:
            outage.warn(
                logger,
                "cache",
                "Redis cache at %s unavailable (%s): requests are served without it (no API "
                "rate limits; competition summaries computed per web process); asked again "
                "every %.0f s",
                self.where,
                text,
                self.seconds,
            )
        else:
            outage.warn(
                logger,
                "cache",
                "Redis cache at %s still unavailable (%s) after %.0f s; %d cache calls "
                "answered without it",
                self.where,
                text,
                now - outage.started,
                outage.answered_without,
            )

    def succeeded(self) -> None:
        if self.outage is None:  # the usual case, without taking the lock
            return
        with self._lock:
            outage, self.outage = self.outage, None
        if outage is not None:
            logger.info(
                "Redis cache at %s is back after %.0f s; %d cache calls were answered without it",
                self.where,
                time.monotonic() - outage.started,
                outage.answered_without,
            )


_circuits: dict[tuple[str, float], _Circuit] = {}
_circuits_lock = threading.Lock()


def _circuit_for(where: str, seconds: float) -> _Circuit:
    with _circuits_lock:
        circuit = _circuits.get((where, seconds))
        if circuit is None:
            circuit = _circuits[(where, seconds)] = _Circuit(where, seconds)
        return circuit


def _where(servers: Iterable[str]) -> str:
    """The servers' host, port and database, never a password from the URL."""
    names = []
    for url in servers:
        parts = urlsplit(url)
        host = parts.hostname or parts.path or "?"
        port = f":{parts.port}" if parts.port else ""
        names.append(f"{host}{port}{parts.path if parts.hostname else ''}")
    return ",".join(names)


class FailOpenRedisCache(RedisCache):
    """Django's ``RedisCache`` that answers without Redis when Redis fails (module docstring).
    ``OPTIONS["circuit_seconds"]``: how long not to ask again after a failure."""

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        seconds = float(options.pop("circuit_seconds", DEFAULT_CIRCUIT_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        servers = re.split("[;,]", server) if isinstance(server, str) else server
        self._circuit = _circuit_for(_where(servers), seconds)

    @property
    def outage(self) -> Outage | None:
        """The outage going on, if Redis has failed and not answered since."""
        return self._circuit.outage

    def _or(self, fallback: T, call: Callable[[], T]) -> T:
        if not self._circuit.allows():
            return fallback
        try:
            result = call()
        except RedisError as error:
            self._circuit.failed(error)
            return fallback
        self._circuit.succeeded()
        return result

    def probe(self) -> bool:
        """Ask Redis now, whatever the circuit says (for ``/health/``): is a value set read
        back? A success ends an outage, a failure starts or prolongs one."""
        key = f"health:{uuid.uuid4().hex}"
        try:
            super().set(key, "1", timeout=10)
            found = super().get(key)
            super().delete(key)
        except RedisError as error:
            self._circuit.failed(error)
            return False
        self._circuit.succeeded()
        return bool(found == "1")

    def add(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> bool:
        return self._or(
            False, lambda: super(FailOpenRedisCache, self).add(key, value, timeout, version)
        )

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._or(default, lambda: super(FailOpenRedisCache, self).get(key, default, version))

    def set(
        self,
        key: Any,
        value: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> None:
        self._or(None, lambda: super(FailOpenRedisCache, self).set(key, value, timeout, version))

    def touch(
        self, key: Any, timeout: float | None = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._or(False, lambda: super(FailOpenRedisCache, self).touch(key, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._or(False, lambda: super(FailOpenRedisCache, self).delete(key, version))

    def get_many(self, keys: Iterable[Any], version: int | None = None) -> dict[Any, Any]:
        keys = list(keys)
        return self._or({}, lambda: super(FailOpenRedisCache, self).get_many(keys, version))

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._or(False, lambda: super(FailOpenRedisCache, self).has_key(key, version))

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        missing = object()
        result = self._or(
            missing, lambda: super(FailOpenRedisCache, self).incr(key, delta, version)
        )
        if result is missing:
            # As Django does for a key that is not there: the caller's usual fallback applies.
            raise ValueError(f"Key '{key}' not found (the cache is unavailable)")
        assert isinstance(result, int)
        return result

    def set_many(
        self,
        data: dict[Any, Any],
        timeout: float | None = DEFAULT_TIMEOUT,
        version: int | None = None,
    ) -> list[Any]:
        # Django's contract: the keys that were not stored.
        return self._or(
            list(data), lambda: super(FailOpenRedisCache, self).set_many(data, timeout, version)
        )

    def delete_many(self, keys: Iterable[Any], version: int | None = None) -> None:
        keys = list(keys)
        self._or(None, lambda: super(FailOpenRedisCache, self).delete_many(keys, version))

    def clear(self) -> None:
        self._or(None, lambda: super(FailOpenRedisCache, self).clear())


def cache_outage(alias: str = "default") -> Outage | None:
    """The outage of the cache ``alias`` going on, if it fails open and Redis is down."""
    backend = caches[alias]
    return backend.outage if isinstance(backend, FailOpenRedisCache) else None
