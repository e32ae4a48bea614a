"""The ``tswarm`` command (typer): options, config files and the run mode; may import every room, and none imports it."""
