"""Settings declared once (variable, default, parser, range, doc line), for both services.

A setting is a dataclass field made by `setting(...)` (or `optional`, `required`), in the spirit
of hynek/environ-config's `environ.var(default, converter, name, help)`: the field's default is the
declared one, `read_fields` parses the environment with the declared parsers, `check_fields`
refuses values outside the declared ranges wherever a settings object is built, and
`markdown_table` renders the README's configuration tables (tests/test_readme.py checks them).
Errors are `ValueError`s naming the variable; identity turns them into its `ConfigurationError`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_KEY = "variable"
HIDDEN = "***"


@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a variable's text becomes a value: `parse` and `check` raise ValueError with a reason;
    `write` is the inverse of `parse` (the README shows defaults with it); `measure` is the number
    a declared range bounds."""

    parse: Callable[[str], T]
    write: Callable[[T], str] = str
    measure: Callable[[T], float] | None = None
    check: Callable[[T], None] | None = None
    allowed: str = ""  # what the README lists as allowed when no range is declared


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One environment variable. `default` None means unset (the README shows `default_doc`)."""

    name: str
    kind: Kind[T]
    default: T | None
    doc: str
    low: float | None = None
    high: float | None = None
    default_doc: str | None = None
    fallback: str | None = None  # another variable read when this one is unset
    redact: Callable[[Any], str] | None = None  # how a settings repr shows the value

    def parse(self, text: str) -> T:
        try:
            value = self.kind.parse(text)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        self.check(value)
        return value

    def text(self, env: Mapping[str, str]) -> str | None:
        """The text set in `env` under this name, else under `fallback`; blank means unset."""
        for name in (self.name, self.fallback):
            if name is not None and env.get(name, "").strip():
                return env[name]
        return None

    def read(self, env: Mapping[str, str]) -> T | None:
        text = self.text(env)
        return self.default if text is None else self.parse(text)

    def value(self, env: Mapping[str, str]) -> T:
        """`read` for a variable that has a default."""
        value = self.read(env)
        if value is None:
            raise ValueError(f"{self.name}: required")
        return value

    def check(self, value: T) -> None:
        """Refuse a value outside the declared range, never clamp it."""
        if self.kind.check is not None:
            try:
                self.kind.check(value)
            except ValueError as exc:
                raise ValueError(f"{self.name}: {exc}") from None
        if self.kind.measure is None or (self.low is None and self.high is None):
            return
        number = self.kind.measure(value)
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if not (math.isfinite(number) and low <= number <= high):
            raise ValueError(f"{self.name}: must be between {self.low} and {self.high}")

    def allowed(self) -> str:
        if self.low is not None and self.high is not None:
            return f"{self.low}–{self.high}"
        if self.low is not None:
            return f"at least {self.low}"
        return self.kind.allowed

    def shown_default(self) -> str:
        if self.default_doc is not None:
            shown = self.default_doc
        elif self.default is None:
            shown = "unset"
        else:
            shown = f"`{self.kind.write(self.default)}`"
        return f"`{self.fallback}`, else {shown}" if self.fallback else shown


def setting(
    name: str,
    kind: Kind[T],
    default: T,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    default_doc: str | None = None,
    fallback: str | None = None,
) -> T:
    """A dataclass field: its default, variable, parser, range and doc line, declared at once."""
    variable = Variable(name, kind, default, doc, low, high, default_doc, fallback)
    return field(default=default, metadata={_KEY: variable})


def optional(name: str, kind: Kind[T], doc: str, *, default_doc: str | None = None) -> T | None:
    """A declared dataclass field that is None unless its variable is set."""
    variable = Variable(name, kind, None, doc, default_doc=default_doc)
    return field(default=None, metadata={_KEY: variable})


def required(
    name: str, kind: Kind[T], doc: str, *, default_doc: str, redact: Callable[[Any], str] | None
) -> Any:
    """A declared dataclass field without a default: whoever builds the settings must give it."""
    variable = Variable(name, kind, None, doc, default_doc=default_doc, redact=redact)
    return field(metadata={_KEY: variable})


def declared(settings: Any) -> Iterator[tuple[Field[Any], Variable[Any]]]:
    """The fields of a settings class (or object) declared here, with their variables."""
    for f in fields(settings):
        if _KEY in f.metadata:
            yield f, f.metadata[_KEY]


def read_fields(cls: type, env: Mapping[str, str], **defaults: Any) -> dict[str, Any]:
    """Keyword arguments for `cls` from `env`: fields whose variable is unset take `defaults`,
    else are left out so that the dataclass default applies."""
    values: dict[str, Any] = {}
    for f, variable in declared(cls):
        text = variable.text(env)
        if text is not None:
            values[f.name] = variable.parse(text)
        elif f.name in defaults:
            values[f.name] = defaults[f.name]
    return values


def check_fields(settings: Any) -> None:
    """Refuse any declared field outside its range, however the settings object was built."""
    for f, variable in declared(settings):
        value = getattr(settings, f.name)
        if value is not None:
            variable.check(value)


def redacted_repr(settings: Any) -> str:
    shown = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        variable = f.metadata.get(_KEY)
        redact = variable.redact if variable is not None else None
        shown.append(f"{f.name}={redact(value) if redact is not None else repr(value)}")
    return f"{type(settings).__name__}({', '.join(shown)})"


def markdown_table(variables: Iterable[Variable[Any]]) -> str:
    """The README's configuration table."""
    rows = ["| variable | meaning | allowed | default |", "|---|---|---|---|"]
    for v in variables:
        rows.append(f"| `{v.name}` | {v.doc} | {v.allowed()} | {v.shown_default()} |")
    return "\n".join(rows) + "\n"


def redact_url(url: str) -> str:
    """A database URL with its password, if any, shown as ***: safe to log or repr.

    Split as SQLAlchemy's `make_url` splits (`scheme://user:password@host...`), except that the
    password runs to the last `@`, so an unescaped `@` in it cannot leak its tail."""
    found = _URL_PASSWORD.match(url)
    return url if found is None else f"{found['head']}{HIDDEN}@{found['tail']}"


_URL_PASSWORD = re.compile(r"(?P<head>[\w+]+://[^:/@]*:)(?P<password>.*)@(?P<tail>[^@]*)\Z", re.S)


def split_host_port(text: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:port`) -> (host, port), refusing anything else."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"must look like host:port, got {text!r}")
    check_port(int(port_text))
    return host.strip("[]") if host.startswith("[") else host, int(port_text)


def is_loopback(listen: str) -> bool:
    """Whether a `host:port` address binds to loopback only."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(port: int) -> None:
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range 0-65535")


def _plain(number: float) -> str:
    """5.0 as 5, 0.05 as 0.05: numbers as an operator writes them."""
    return str(int(number)) if number.is_integer() else str(number)


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"not an integer, got {text.strip()!r}") from None


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a number, got {text.strip()!r}") from None


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _items(text: str) -> tuple[str, ...]:
    return tuple(item for item in (part.strip() for part in text.split(",")) if item)


def _networks(text: str) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for item in _items(text):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return tuple(networks)


def _check_address(value: str) -> None:
    split_host_port(value)


def choice(options: Iterable[str], *, fold_case: bool) -> Kind[str]:
    """One of `options`; with `fold_case` the text is lower-cased first."""
    allowed = tuple(options)

    def check(value: str) -> None:
        if value not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")

    def parse(text: str) -> str:
        return text.strip().lower() if fold_case else text

    return Kind(parse, check=check, allowed=", ".join(f"`{o}`" for o in allowed))


TEXT: Kind[str] = Kind(str)
INTEGER: Kind[int] = Kind(_integer, measure=float)
NUMBER: Kind[float] = Kind(_number, write=_plain, measure=float)
SECONDS: Kind[timedelta] = Kind(
    lambda text: timedelta(seconds=_integer(text)),
    write=lambda value: _plain(value.total_seconds()),
    measure=timedelta.total_seconds,
)
DAYS: Kind[timedelta] = Kind(
    lambda text: timedelta(days=_integer(text)),
    write=lambda value: str(value.days),
    measure=lambda value: value.total_seconds() / 86400,
)
BOOLEAN: Kind[bool] = Kind(_boolean, write=lambda value: str(value).lower(), allowed="true, false")
PATH: Kind[Path] = Kind(lambda text: Path(text.strip()))
ADDRESS: Kind[str] = Kind(str, check=_check_address, allowed="host:port")
HOST_PORT: Kind[tuple[str, int]] = Kind(
    split_host_port,
    write=lambda value: f"{value[0]}:{value[1]}",
    check=lambda value: check_port(value[1]),
    allowed="host:port",
)
LIST: Kind[tuple[str, ...]] = Kind(_items, write=",".join, allowed="comma-separated")
NETWORKS: Kind[tuple[IPNetwork, ...]] = Kind(
    _networks, write=lambda value: ",".join(map(str, value)), allowed="comma-separated IPs/CIDRs"
)
