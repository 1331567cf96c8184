#!/usr/bin/env python3
"""Export a style as SavedModel, TFLite or ONNX: see `python tools/export.py --help`."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cartoongan.cli.export import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
