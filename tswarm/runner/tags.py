"""``@tag`` and the ``--tags`` / ``--exclude-tags`` filter over user classes and task sets."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")

#: attribute holding the set of tag names on a task function
TAGS_ATTR = "tswarm_tags"


def tags_of(task: Any) -> frozenset[str]:
    """The tag names given to ``task`` with :func:`tag` (empty when it has none)."""
    return frozenset(getattr(task, TAGS_ATTR, ()))


def _is_task_holder(obj: Any) -> bool:
    # A TaskSet or User class: something with its own list of tasks.
    return isinstance(obj, type) and isinstance(getattr(obj, "tasks", None), list)


def tag(*names: str) -> Callable[[T], T]:
    """Give a task, or every task of a TaskSet class, one or more tag names.

    ``tswarm run -T checkout`` then runs only the tasks tagged ``checkout``, and
    ``-E slow`` leaves out those tagged ``slow``. Example::

        @tag("checkout", "slow")
        @task(3)
        def pay(self): ...
    """
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError("@tag needs one or more tag names, as in @tag('checkout')")

    def apply(obj: T) -> T:
        if _is_task_holder(obj):
            # Tagging a task set tags everything it runs, nested sets included.
            for task in obj.tasks:  # type: ignore[attr-defined]
                apply(task)
            return obj
        try:
            current = set(getattr(obj, "__dict__", {}).get(TAGS_ATTR, ()))
            setattr(obj, TAGS_ATTR, current | set(names))
        except AttributeError:
            raise TypeError(
                f"@tag cannot be applied to {obj!r}: use it on a function or a TaskSet class"
            ) from None
        return obj

    return apply


def filter_tasks_by_tags(
    user_classes: Iterable[type],
    tags: set[str] | None = None,
    exclude_tags: set[str] | None = None,
) -> None:
    """Rewrite the ``tasks`` of ``user_classes`` and their nested TaskSets in place.

    With ``tags``, a task stays only when it has at least one of them (untagged tasks go). With
    ``exclude_tags``, a task goes when it has any of them. A nested TaskSet stays when any of its own
    tasks stayed. An empty set or None means "no filter".
    """
    if not tags and not exclude_tags:
        return
    include = frozenset(tags or ())
    exclude = frozenset(exclude_tags or ())
    # A task set shared by several users is filtered once; its verdict is remembered.
    verdicts: dict[Any, bool] = {}

    def keeps(task: Any) -> bool:
        if task in verdicts:
            return verdicts[task]
        if _is_task_holder(task):
            verdicts[task] = True  # guard against a task set that contains itself
            filter_holder(task)
            verdict = bool(task.tasks)
        else:
            task_tags = tags_of(task)
            verdict = (not include or bool(task_tags & include)) and not (task_tags & exclude)
        verdicts[task] = verdict
        return verdict

    def filter_holder(holder: Any) -> None:
        holder.tasks = [task for task in holder.tasks if keeps(task)]

    for user_class in user_classes:
        filter_holder(user_class)
