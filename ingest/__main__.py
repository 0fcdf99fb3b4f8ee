"""`python -m ingest` starts nothing: an ingest worker must carry compliance's real-time hook, which
only the composition root wires. Start it with `outfall ingest` (or `python -m outfall ingest`)."""

import sys

sys.exit("python -m ingest: start the ingest worker with `outfall ingest` (python -m outfall ingest)")
