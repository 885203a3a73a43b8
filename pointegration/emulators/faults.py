"""Faults to inject into the emulators, drawn deterministically from a seed.

A :class:`FaultPlan` is parsed from a spec (``--faults``) and asked, for each
service request, which faults apply (:meth:`FaultPlan.draw`);
:class:`~pointegration.emulators.middleware.ServiceMiddleware` applies them.

Fault spec grammar::

    spec        = rule *("," rule)
    rule        = service ":" method ":" path "=" fault
    service     = "bc" | "dv" | "*"
    method      = "GET" | "POST" | "PATCH" | "PUT" | "DELETE" | "*"
    path        = glob compared with the end of the route template, e.g.
                  "/salesInvoices", "/accounts(*)", "*"
    fault       = "latency:" duration [":" probability]
                | ("429" | "500" | "502" | "503" | "504") [":" probability]
                | ("timeout" | "lost") [":" probability]
    duration    = integer "ms" | number "s"
    probability = number from 0 to 1, or number "%"; 1 when left out

Example: ``bc:POST:/salesInvoices=lost:0.2,dv:*:*=503:5%,bc:*:*=latency:200ms``.
The route template is the path with every key segment written ``({id})`` and,
for BC, the tenant and environment written ``{tenant}`` and ``{environment}``:
``/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/salesInvoices``.
A path pattern matches when it matches the whole template or its end, so
``/salesInvoices`` matches that template and ``/salesInvoices*`` also matches
``.../salesInvoices({id})``. ``*`` in a pattern matches any text, ``/`` too.

Every latency rule that fires adds its delay; of the other rules, the first one
that fires decides the outcome. Each rule draws its own number from a hash of the
seed, the rule's position, the route key (service, method, template) and how many
requests that route key has seen, so the same seed, spec and request sequence give
the same faults, and adding a rule leaves the draws of the others unchanged.

:func:`service_error` writes an error answer in the shape of either service; the
limits use it too.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal

from pointegration.emulators._asgi import Response, json_response
from pointegration.errors import ConfigurationError

__all__ = [
    "FaultDraw",
    "FaultPlan",
    "FaultRule",
    "FaultSpecError",
    "Service",
    "parse_fault_spec",
    "service_error",
]

Service = Literal["dataverse", "bc"]
FaultKind = Literal["latency", "status", "timeout", "lost"]


_BC_CODES = {429: "Application_TooManyRequests", 500: "Internal_ServerError"}
_DATAVERSE_CODES = {429: "0x80072322", 500: "0x80040216"}
_REASONS = {
    429: "Too many requests.",
    500: "An unexpected error occurred.",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Timeout",
}


def service_error(
    service: Service,
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    retry_after: int | None = None,
) -> Response:
    """An error response with the service's body shape.

    BC: ``{"error": {"code", "message"}}`` with the message ending in
    ``  CorrelationId:  <guid>.``; ``Application_TooManyRequests`` for 429
    (Limitation: not in Microsoft's catalogue of BC error codes; it is the code
    seen in published BC throttling responses), ``Internal_ServerError`` for 500
    and ``Unknown`` (the catalogue's catch-all) for 502, 503 and 504.
    Dataverse: the same shape with a hex code: ``0x80072322`` (request rate)
    for 429, ``0x80040216`` (unexpected error) for 500 and an empty code, as the
    gateway often sends, for 502, 503 and 504.
    """
    text = message if message is not None else _REASONS.get(status, "Error")
    headers = {"retry-after": str(retry_after)} if retry_after is not None else None
    if service == "bc":
        text = f"{text}  CorrelationId:  {uuid.uuid4()}."
        code = code or _BC_CODES.get(status, "Unknown")
    else:
        code = code if code is not None else _DATAVERSE_CODES.get(status, "")

    return json_response(status, {"error": {"code": code, "message": text}}, headers)


class FaultSpecError(ConfigurationError):
    """A fault spec that does not follow the grammar; the message names the rule."""

    default_code = "invalid_fault_spec"


@dataclass(frozen=True)
class FaultRule:
    """One rule of a fault spec; ``service`` and ``method`` ``None`` match all."""

    service: Service | None
    method: str | None
    path: str
    kind: FaultKind
    probability: float
    latency_s: float = 0.0
    status: int = 0

    @property
    def name(self) -> str:
        """How the request log names this fault: ``lost``, ``503``, ``latency``."""
        if self.kind == "status":
            return str(self.status)
        return self.kind

    def matches(self, service: Service, method: str, route: str) -> bool:
        """Whether a request to ``route`` falls under this rule."""
        if self.service is not None and self.service != service:
            return False
        if self.method is not None and self.method != method:
            return False

        return self.path == "*" or fnmatchcase(route, "*" + self.path)


@dataclass(frozen=True)
class FaultDraw:
    """What the plan drew for one request: total latency and the outcome rule."""

    latency_s: float = 0.0
    outcome: FaultRule | None = None
    names: tuple[str, ...] = ()


class FaultPlan:
    """Rules plus a seed; draws each request's faults deterministically."""

    def __init__(self, rules: Sequence[FaultRule] = (), *, seed: int = 0) -> None:
        self.rules = tuple(rules)
        self.seed = seed
        self._seen: Counter[str] = Counter()

    @classmethod
    def parse(cls, spec: str | None, *, seed: int = 0) -> FaultPlan:
        """A plan from a spec (see the module docstring); ``FaultSpecError``."""
        return cls(parse_fault_spec(spec or ""), seed=seed)

    def draw(self, service: Service, method: str, route: str) -> FaultDraw:
        """The faults of the next request to ``method route`` on ``service``."""
        key = f"{service} {method} {route}"
        nth = self._seen[key]
        self._seen[key] += 1

        latency = 0.0
        outcome: FaultRule | None = None
        names: list[str] = []
        for index, rule in enumerate(self.rules):
            if outcome is not None and rule.kind != "latency":
                continue
            if not rule.matches(service, method, route):
                continue
            if _uniform(self.seed, index, key, nth) >= rule.probability:
                continue
            names.append(rule.name)
            if rule.kind == "latency":
                latency += rule.latency_s
            else:
                outcome = rule

        return FaultDraw(latency, outcome, tuple(names))


def _uniform(seed: int, index: int, key: str, nth: int) -> float:
    digest = hashlib.blake2b(
        f"{seed}\x00{index}\x00{key}\x00{nth}".encode(), digest_size=8
    ).digest()

    return int.from_bytes(digest, "big") / 2**64


_SERVICES: dict[str, Service | None] = {"bc": "bc", "dv": "dataverse", "*": None}
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE", "*"}
_STATUSES = {"429", "500", "502", "503", "504"}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s)")
_PROBABILITY = re.compile(r"(\d+(?:\.\d+)?)(%?)")


def parse_fault_spec(spec: str) -> list[FaultRule]:
    """The rules of ``spec``; an empty spec has none. Raises ``FaultSpecError``."""
    if not spec.strip():
        return []

    rules: list[FaultRule] = []
    for position, text in enumerate(spec.split(","), start=1):
        try:
            rules.append(_parse_rule(text.strip()))
        except ValueError as exc:
            raise FaultSpecError(
                f"fault rule {position} {text.strip()!r}: {exc}"
            ) from None

    return rules


def _parse_rule(text: str) -> FaultRule:
    where, equals, fault = text.partition("=")
    parts = [part.strip() for part in where.split(":", 2)]
    if not equals or len(parts) != 3:
        raise ValueError("expected SERVICE:METHOD:PATH=FAULT")
    service_text, method_text, path = parts
    if service_text.lower() not in _SERVICES:
        raise ValueError(f"unknown service {service_text!r} (use bc, dv or *)")
    method = method_text.upper()
    if method not in _METHODS:
        raise ValueError(f"unknown method {method_text!r}")
    if not path.startswith(("/", "*")):
        raise ValueError("the path must start with / or *")

    service = _SERVICES[service_text.lower()]
    return _parse_fault(fault.strip(), service, None if method == "*" else method, path)


def _parse_fault(
    text: str, service: Service | None, method: str | None, path: str
) -> FaultRule:
    kind, _, rest = text.lower().partition(":")
    if kind == "latency":
        duration, _, chance = rest.partition(":")
        return FaultRule(
            service,
            method,
            path,
            "latency",
            _probability(chance),
            latency_s=_duration(duration),
        )
    if kind in _STATUSES:
        return FaultRule(
            service, method, path, "status", _probability(rest), status=int(kind)
        )
    if kind in ("timeout", "lost"):
        fault_kind: FaultKind = "timeout" if kind == "timeout" else "lost"
        return FaultRule(service, method, path, fault_kind, _probability(rest))

    raise ValueError(
        f"unknown fault {kind!r} (use latency:DURATION, 429, 500, 502, 503, "
        "504, timeout or lost)"
    )


def _duration(text: str) -> float:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"latency needs a duration such as 200ms or 1.5s, not {text!r}"
        )
    value = float(match[1])

    return value / 1000 if match[2] == "ms" else value


def _probability(text: str) -> float:
    if not text.strip():
        return 1.0
    match = _PROBABILITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"a probability is a number such as 0.2 or 20%, not {text!r}")
    value = float(match[1]) / (100 if match[2] else 1)
    if value > 1:
        raise ValueError(f"a probability cannot exceed 1 (100%), got {text!r}")

    return value
