"""Packaging is declared in setup.cfg; this file only adds the shipped styles to built wheels.

The styles shipped with the project live in the repository's top-level `pretrained/` folder
(model cards, `tools/convert_style.py` and the distiller write there). A wheel carries them
inside the package, as `cartoongan/pretrained/`, so that `pip install .` works offline too;
`cartoongan.presets.PRETRAINED_DIR` looks there first, then beside the package (a clone and
`pip install -e .`, which read the folder in place). MANIFEST.in puts the folder in sdists.
"""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

PRETRAINED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained")


class BuildPyWithPretrained(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the clone's folder
            return
        target = os.path.join(self.build_lib, "cartoongan", "pretrained")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(PRETRAINED, target)


setup(cmdclass={"build_py": BuildPyWithPretrained})
