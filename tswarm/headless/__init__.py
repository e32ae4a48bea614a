"""The headless front-end: live table, CSV while running, final outputs; may import controller and stats, no Textual or gevent."""
