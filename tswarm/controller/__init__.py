"""The master side: dispatch, heartbeats, stats aggregation and outputs. Plain asyncio, no Textual."""
