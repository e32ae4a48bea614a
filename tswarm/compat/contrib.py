"""``locust.contrib``: only ``fasthttp`` is provided."""

__all__: list[str] = []
