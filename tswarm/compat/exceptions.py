"""``locust.exception``: Locust's exception names, backed by tswarm's."""

from tswarm.exceptions import (
    CatchResponseError,
    InterruptTaskSet,
    MissingWaitTimeError,
    RescheduleTask,
    RescheduleTaskImmediately,
    ResponseError,
    StopTest,
    StopUser,
)
from tswarm.exceptions import TswarmError as LocustError

__all__ = [
    "CatchResponseError",
    "InterruptTaskSet",
    "LocustError",
    "MissingWaitTimeError",
    "RescheduleTask",
    "RescheduleTaskImmediately",
    "ResponseError",
    "StopTest",
    "StopUser",
]
