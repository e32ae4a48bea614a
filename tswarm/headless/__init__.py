"""The headless front-end."""
