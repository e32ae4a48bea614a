"""Locust's module names (``import locust``, ...) resolved to tswarm's API; may import the API's rooms (runner, clients)."""
