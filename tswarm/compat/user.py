"""``locust.user``: the user classes, tasks and wait times."""

from tswarm.runner.tasks import SequentialTaskSet, TaskSet, tag, task
from tswarm.runner.users import HttpUser, User
from tswarm.runner.wait_time import between, constant, constant_pacing, constant_throughput, poisson

__all__ = [
    "HttpUser",
    "SequentialTaskSet",
    "TaskSet",
    "User",
    "between",
    "constant",
    "constant_pacing",
    "constant_throughput",
    "poisson",
    "tag",
    "task",
]
