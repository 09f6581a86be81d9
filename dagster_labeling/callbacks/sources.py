"""Callback sources: the plug-in point that authenticates and identifies one platform's deliveries.

A source is mounted by the receiver at ``POST /callbacks/{source.name}``. It answers two questions:

* ``verify(headers, body)``: is this request really from the platform? Raise :class:`CallbackRejected`
  otherwise. It gets the raw body bytes, so HMAC schemes (Standard Webhooks, used by Argilla) fit.
* ``dedup_key(headers, payload)``: which deliveries are the same event? Redeliveries must map to the same
  key; a different event must not.

Adding a platform is one subclass. :class:`ArgillaWebhookSource` is the Standard Webhooks example: the
``standardwebhooks`` library decodes the secret and computes the signature; the source adds the replay
window, key rotation and constant-time comparison, and identifies an event by its own id, never by content
two events can share.

>>> src = ScaleCallbackSource("live-key")
>>> src
ScaleCallbackSource(name='scale', callback_auth_key='***')
>>> src.verify({"scale-callback-auth": "live-key"}, b"{}")  # passes silently
>>> src.verify({"scale-callback-auth": "nope"}, b"{}")
Traceback (most recent call last):
...
dagster_labeling.callbacks.sources.CallbackRejected: 401: invalid scale-callback-auth header
"""

import base64
import binascii
import datetime
import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

__all__ = [
    "ArgillaWebhookSource", "CallbackRejected", "CallbackSource", "ScaleCallbackSource", "canonical_json_sha256",
    "get_header",
]


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc)


class CallbackRejected(Exception):
    """A delivery is refused with an HTTP status. ``reason`` is sent to the caller: never put a secret in it."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(f"{status_code}: {reason}")
        self.status_code = status_code
        self.reason = reason


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts and Starlette ``Headers`` alike."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def canonical_json_sha256(payload: Any) -> str:
    """Hex sha256 of the canonical JSON (sorted keys, compact, UTF-8) of ``payload``."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CallbackSource(ABC):
    """Base class of a platform's callback source. Subclasses set ``name`` and implement both methods."""

    name: str
    #: Extra header names (lower case) never to persist, beyond the inbox's built-in credential filter.
    secret_headers: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise :class:`CallbackRejected` (usually 401) unless the request is authentic."""

    @abstractmethod
    def dedup_key(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        """A key equal for redeliveries of one event and different for different events.

        May raise :class:`CallbackRejected` (400) when the payload lacks what identifies the event.
        """


class ScaleCallbackSource(CallbackSource):
    """Scale AI task callbacks: static shared secret in the ``scale-callback-auth`` header.

    Only a sha256 digest of the key is kept on the object, so the key cannot leak through ``repr``,
    ``vars()``, pickling or tracebacks; the comparison is constant-time.
    ``additional_keys`` accepts more valid keys (Scale's test-mode key, or a key being rotated in).

    >>> src = ScaleCallbackSource("k")
    >>> body = {"task_id": "t1", "task": {"task_id": "t1", "status": "completed"}, "response": {}}
    >>> src.dedup_key({}, body).startswith("t1:")
    True
    """

    HEADER: ClassVar[str] = "scale-callback-auth"
    secret_headers: ClassVar[frozenset[str]] = frozenset({"scale-callback-auth"})

    def __init__(
        self, callback_auth_key: str, *, name: str = "scale", additional_keys: tuple[str, ...] = ()
    ) -> None:
        keys = (callback_auth_key, *additional_keys)
        if not all(isinstance(k, str) and k for k in keys):
            raise ValueError("ScaleCallbackSource needs a non-empty callback auth key")
        self.name = name
        self._key_digests = tuple(hashlib.sha256(k.encode("utf-8")).digest() for k in keys)

    def __repr__(self) -> str:
        return f"ScaleCallbackSource(name={self.name!r}, callback_auth_key='***')"

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        given = get_header(headers, self.HEADER)
        if not given:
            raise CallbackRejected(401, f"missing {self.HEADER} header")
        given_digest = hashlib.sha256(given.encode("utf-8")).digest()
        ok = False
        for digest in self._key_digests:  # check every key, so timing doesn't reveal which one matched
            ok |= hmac.compare_digest(given_digest, digest)
        if not ok:
            raise CallbackRejected(401, f"invalid {self.HEADER} header")

    def dedup_key(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        task_id = payload.get("task_id")
        if not task_id:
            task = payload.get("task")
            task_id = task.get("task_id") if isinstance(task, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise CallbackRejected(400, "callback body has no task_id")
        return f"{task_id}:{canonical_json_sha256(payload)}"


class ArgillaWebhookSource(CallbackSource):
    """Argilla webhooks: Standard Webhooks signatures, a replay window, and dedup on the event's identity.

    ``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256>`` over
    ``"{webhook-id}.{webhook-timestamp}.{body}"``, keyed by the webhook's secret (base64, an optional ``whsec_``
    prefix): the signature is computed by the ``standardwebhooks`` library (the one Argilla signs with) and
    compared in constant time with every ``v1`` signature, for every secret (``additional_secrets``: rotation).
    A ``webhook-timestamp`` further than ``tolerance_seconds`` from now is refused (replay). Only the decoded
    keys are kept on the object, never the secret text.

    The dedup key: Argilla's server makes a new ``webhook-id`` for every delivery attempt (its retry calls
    ``notify_event`` again), so a retried event is recognised by what identifies it in the body, the event
    ``type``, the entity ``data.id`` and the event's microsecond ``timestamp`` (fixed when the event happened,
    the same in every attempt). A body without an entity id or a timestamp identifies nothing (two different
    events can have the same content): its key is the ``webhook-id`` alone, so two such events are both kept
    and a redelivery under the same ``webhook-id`` is kept once.

    >>> import base64, json
    >>> secret = base64.b64encode(b"0123456789abcdef").decode()
    >>> src = ArgillaWebhookSource(secret, clock=lambda: 1_700_000_000)
    >>> src
    ArgillaWebhookSource(name='argilla', secret='***')
    >>> body = json.dumps({"type": "record.completed", "version": 1, "timestamp": "t", "data": {"id": "r1"}})
    >>> headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
    ...            "webhook-signature": src.sign("msg_1", 1_700_000_000, body)}
    >>> src.verify(headers, body.encode())  # passes silently
    >>> src.dedup_key(headers, json.loads(body))
    'record.completed:r1:t'
    >>> src.dedup_key(headers, {"type": "ping", "data": {"agent": "argilla-server"}})
    'webhook-id:msg_1'
    """

    secret_headers: ClassVar[frozenset[str]] = frozenset({"webhook-signature"})

    def __init__(
        self,
        secret: str,
        *,
        name: str = "argilla",
        tolerance_seconds: float = 300.0,
        additional_secrets: tuple[str, ...] = (),
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

        self.name = name
        self.tolerance_seconds = tolerance_seconds
        self._clock = clock or time.time
        signers = []
        for s in (secret, *additional_secrets):
            if not isinstance(s, str) or not s:
                raise ValueError("ArgillaWebhookSource needs a non-empty webhook secret")
            try:
                signers.append(Webhook(s))  # decodes base64, strips "whsec_"; keeps only the key bytes
            except (binascii.Error, ValueError, EmptyWebhookSecretError):
                raise ValueError("the Argilla webhook secret is not base64 (copy it as Argilla returned it)") from None
        self._signers = tuple(signers)

    def __repr__(self) -> str:
        return f"ArgillaWebhookSource(name={self.name!r}, secret='***')"

    def sign(self, msg_id: str, timestamp: int, body: str | bytes) -> str:
        """The ``webhook-signature`` value for a message (with the first secret); for tests and tools."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        return str(self._signers[0].sign(msg_id, _utc(timestamp), text))

    def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        msg_id = get_header(headers, "webhook-id")
        stamp = get_header(headers, "webhook-timestamp")
        signatures = get_header(headers, "webhook-signature")
        if not msg_id or not stamp or not signatures:
            raise CallbackRejected(401, "missing webhook-id, webhook-timestamp or webhook-signature header")
        try:
            timestamp = int(stamp)
        except ValueError:
            raise CallbackRejected(401, "invalid webhook-timestamp header") from None
        if abs(self._clock() - timestamp) > self.tolerance_seconds:
            raise CallbackRejected(401, "webhook-timestamp outside the tolerance window (stale or replayed)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRejected(401, "invalid webhook-signature (the body is not UTF-8)") from None
        expected = [base64.b64decode(signer.sign(msg_id, _utc(timestamp), text).partition(",")[2])
                    for signer in self._signers]
        ok = False
        for part in signatures.split(" "):
            version, _, sig = part.partition(",")
            if version != "v1":
                continue
            try:
                given = base64.b64decode(sig, validate=True)
            except (binascii.Error, ValueError):
                continue
            for exp in expected:  # compare every one, so timing doesn't reveal which matched
                ok |= hmac.compare_digest(given, exp)
        if not ok:
            raise CallbackRejected(401, "invalid webhook-signature")

    def dedup_key(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
        event = payload.get("type")
        data = payload.get("data")
        if not isinstance(event, str) or not isinstance(data, dict):
            raise CallbackRejected(400, "webhook body has no type or data")
        entity, stamp = data.get("id"), payload.get("timestamp")
        if entity and isinstance(stamp, str) and stamp:
            return f"{event}:{entity}:{stamp}"  # the event's identity: the same in every delivery attempt
        msg_id = get_header(headers, "webhook-id")
        if not msg_id:
            raise CallbackRejected(400, "webhook has neither an event timestamp and entity id nor a webhook-id "
                                        "header: a redelivery could not be told from a new event")
        return f"webhook-id:{msg_id}"
