"""Time spans as people type them: ``300s``, ``20m``, ``1h30m``, or a plain number of seconds."""

from __future__ import annotations

import re

from tswarm.exceptions import ConfigError

_TIMESPAN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


class TimespanError(ConfigError, ValueError):
    """Text that is not a time span."""


def parse_timespan(text: str | int | float, option: str = "--run-time") -> float:
    """Seconds in ``"300s"``, ``"20m"``, ``"1h30m"`` or a plain number of seconds.

    Raises:
        TimespanError: the text is no time span, or the number is negative; the message names ``option``.
    """
    if isinstance(text, int | float):
        if text < 0:
            raise TimespanError(f"invalid {option} {text!r}: must not be negative")
        return float(text)
    value = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    match = _TIMESPAN.match(value)
    if not value or not match or not any(match.groupdict().values()):
        raise TimespanError(f"invalid {option} {text!r}: use a time span like 30s, 20m, 1h30m")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    return float(parts["h"] * 3600 + parts["m"] * 60 + parts["s"])
