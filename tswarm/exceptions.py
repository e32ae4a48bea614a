"""Exceptions that test files raise or catch, and the errors tswarm reports to users.

The first group mirrors Locust's control-flow exceptions so that test files written for Locust
behave the same under tswarm.
"""

from __future__ import annotations


class TswarmError(Exception):
    """Base class of tswarm's own errors."""


class StopUser(Exception):  # noqa: N818 - Locust's name
    """Raised in a task to stop the user that runs it."""


class StopTest(Exception):  # noqa: N818 - Locust's name
    """Raised in a task to stop the whole test (the exit code is then computed as usual)."""


class RescheduleTask(Exception):  # noqa: N818 - Locust's name
    """Raised in a task to end it early and pick the next one after the usual wait."""


class RescheduleTaskImmediately(Exception):  # noqa: N818 - Locust's name
    """Raised in a task to end it early and pick the next one without waiting."""


class InterruptTaskSet(Exception):  # noqa: N818 - Locust's name
    """Raised inside a TaskSet to hand control back to its parent.

    Args:
        reschedule: wait before the parent picks its next task (True) or not (False).
    """

    def __init__(self, reschedule: bool = True) -> None:
        super().__init__(reschedule)
        self.reschedule = reschedule


class MissingWaitTimeError(TswarmError):
    """A user class or task set has no ``wait_time``."""


class CatchResponseError(TswarmError):
    """Raised by ``response.failure()`` inside a ``catch_response`` block, and used as its error."""


class ResponseError(TswarmError):
    """A response did not look like the test expected."""


class UsageError(TswarmError):
    """A user's mistake: a bad option, config file or test file. Reported as one line, exit code 1."""

    exit_code = 1


class TestFileError(UsageError):
    """The test file is missing, does not import, or defines no usable User class."""

    __test__ = False  # not a pytest test class


class ConfigError(UsageError):
    """An option, environment variable or config file value is wrong."""
