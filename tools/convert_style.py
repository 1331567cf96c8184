#!/usr/bin/env python3
"""Convert an upstream CartoonGAN style into a preset: see `python tools/convert_style.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.convert_style import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
