"""One error family for expected business outcomes; `kind` is mapped to HTTP once, in the API."""

from typing import Any, ClassVar, Literal

ErrorKind = Literal["invalid", "not_found", "conflict", "unavailable"]


class DomainError(Exception):
    """Base of every expected business error: a code, a full-word message and details."""

    kind: ClassVar[ErrorKind] = "invalid"
    default_code: ClassVar[str] = "domain_error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.details: dict[str, Any] = dict(details) if details is not None else {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments are lost by the default exception pickling.
        return (_rebuild, (type(self), self.message, self.code, self.details))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, details={self.details!r})"
        )


def _rebuild(
    cls: type[DomainError], message: str, code: str, details: dict[str, Any]
) -> DomainError:
    return cls(message, code=code, details=details)


class InvalidOrder(DomainError):
    kind = "invalid"
    default_code = "invalid_order"


class InsufficientBuyingPower(DomainError):
    kind = "invalid"
    default_code = "insufficient_buying_power"


class InsufficientPosition(DomainError):
    kind = "invalid"
    default_code = "insufficient_position"


class NotFound(DomainError):
    kind = "not_found"
    default_code = "not_found"


class Conflict(DomainError):
    kind = "conflict"
    default_code = "conflict"


class InvalidTransition(Conflict):
    default_code = "invalid_transition"


class OverFill(Conflict):
    default_code = "overfill"


class Unavailable(DomainError):
    kind = "unavailable"
    default_code = "unavailable"


class StaleOrder(Conflict):
    """The order moved between reading and writing it; the unit of work may run again."""

    default_code = "stale_order"
