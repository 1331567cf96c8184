#!/usr/bin/env python3
"""The web page and HTTP API on this machine: see `python tools/serve.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.serve import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
