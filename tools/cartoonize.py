#!/usr/bin/env python3
"""Turn photos into anime-style images: see `python tools/cartoonize.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.cartoonize import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
