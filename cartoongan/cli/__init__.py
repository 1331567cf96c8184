"""Command-line programs; `tools/*.py` and the console scripts call their `main`."""
