"""The tswarm command line."""
