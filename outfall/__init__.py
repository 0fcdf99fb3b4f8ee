"""Outfall's composition root: the console script, the process table, the supervisor behind `outfall run`.

It may import every package; nothing in ingest, compliance, api or simulators imports it."""
