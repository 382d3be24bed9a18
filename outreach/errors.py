"""The one base error type and the few errors the shell turns into exit codes."""

from __future__ import annotations


class OutreachError(Exception):
    """Base of every error this package raises on purpose.

    `exit_code` follows the CLI contract: 1 partial or rejected input, 2 usage or configuration.
    """

    exit_code: int = 2


class ConfigError(OutreachError):
    """A configuration file or setting is invalid; the message names file, line and field."""


class DatabaseUnavailable(OutreachError):
    """The database cannot be reached or is not initialised."""


class InputRejected(OutreachError):
    """Some input was rejected; the rest was processed."""

    exit_code = 1


class NotFound(OutreachError):
    """A record named on the command line or in a request does not exist."""


class GateRefused(OutreachError):
    """An attempt to enqueue or send without a matching allowed decision."""
