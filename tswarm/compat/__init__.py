"""Compatibility with test files written for Locust."""
