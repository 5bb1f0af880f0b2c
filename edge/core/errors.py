"""The one error type users see: a one-line message that says what was wrong and what to do.

Command-line entry points catch :class:`EdgekitError`, print ``error: <message>`` on stderr and exit with status 2,
never a traceback. Library code raises it for bad input (files, flags, metadata); a programming error stays an ordinary
exception.
"""


class EdgekitError(Exception):
    """Bad input or environment, explained in one line."""

    exit_code = 2

    def __init__(self, message: str):
        message = " ".join(str(message).split())  # always one line
        super().__init__(message)
        self.message = message


class MissingExtraError(EdgekitError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, what: str, package: str, extra: str | None = None):
        hint = f"pip install 'edgekit[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{what} needs the '{package}' package, which is not installed: {hint}")
        self.package = package
        self.extra = extra


class SourceLost(EdgekitError):
    """A live source died mid-stream (a microphone unplugged, its audio server gone): the stream ends with
    its summary, then this error."""
