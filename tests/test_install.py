"""How the project is installed (`pip install -e .`, as the README says) and imported."""

import os
import shutil
import site
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import PROJECT_ROOT, required_module


def test_a_cartoongan_folder_in_the_current_directory_does_not_shadow_the_package(tmp_path):
    """From the folder that holds the clone (`~/cartoongan`), `import cartoongan` once found
    the clone as an empty namespace package: "cannot import name 'Cartoonizer'"."""
    (tmp_path / "cartoongan" / "tools").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-c", "import cartoongan; print(cartoongan.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(PROJECT_ROOT / "cartoongan" / "__init__.py")


_API_RUN = """
import sys
import numpy as np
{imports}
cartoonizer = Cartoonizer.from_pretrained(sys.argv[1], precision="float32")
print(cartoonizer(np.zeros((16, 16, 3), np.uint8)).shape)
import tensorflow as tf
print(tf.reduce_sum(tf.constant([1, 2])).numpy(), tf.__loader__.__class__.__name__)
"""


@pytest.mark.slow
@pytest.mark.parametrize("imports", ["from cartoongan import Cartoonizer", "from cartoongan.inference import Cartoonizer"])
def test_the_python_api_is_as_quiet_as_the_cli_unless_asked(tiny_preset, imports):
    """TensorFlow's start-up lines (absl, oneDNN, "E0000 ... failed call to cuInit") came
    through `import cartoongan`; CARTOONGAN_VERBOSE=1 brings them back."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "CARTOONGAN_VERBOSE")}
    command = [sys.executable, "-c", _API_RUN.format(imports=imports), str(tiny_preset)]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, cwd=PROJECT_ROOT)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.split() == ["(16,", "16,", "3)", "3", "SourceFileLoader"]  # TensorFlow's own loader kept
    assert quiet.stderr == ""
    verbose = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT,
                             env={**env, "CARTOONGAN_VERBOSE": "1"})
    assert verbose.returncode == 0, verbose.stderr
    assert "absl::InitializeLog" in verbose.stderr


def test_tensorflow_loaded_through_cartoongan_leaves_jax_out():
    """Where JAX is installed (the test extra installs it), importing TensorFlow and Keras
    loads it for TFLite's from_jax converter and Keras' Orbax callback: 145 MB of resident
    memory in every process (docs/reliability.md). `import cartoongan` keeps those two
    imports out, and JAX still loads for whoever asks for it."""
    required_module("jax")
    code = ("import sys, cartoongan, keras, tensorflow; print('jax' in sys.modules); "
            "import jax; print(callable(jax.jit))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


# What a wheel is built from (everything else in the clone is tests, tools and docs).
_PACKAGING = ["setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "cartoongan", "pretrained"]


@pytest.mark.slow
def test_a_built_wheel_carries_the_shipped_styles_and_cartoonizes_offline(tmp_path):
    """`pip install .` left `pretrained/` out, so the quick start only worked from a clone.
    The wheel is built from a copy of the packaging files (a build writes build/ and
    *.egg-info beside its sources), installed without its dependencies into a fresh venv
    outside the clone that reuses this environment's (no network), and run from elsewhere,
    with an empty cache and a weights URL where nothing listens."""
    import setuptools

    if tuple(map(int, setuptools.__version__.split(".")[:2])) < (70, 1) and not _importable("wheel"):
        pytest.skip("building a wheel offline needs setuptools >= 70.1 or the wheel package")
    source = tmp_path / "source"
    source.mkdir()
    for name in _PACKAGING:
        copy = shutil.copytree if (PROJECT_ROOT / name).is_dir() else shutil.copy
        copy(PROJECT_ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                                    if (PROJECT_ROOT / name).is_dir() else {}))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp_path / "wheels"), str(source)], tmp_path)
    [wheel] = (tmp_path / "wheels").glob("cartoongan-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         tmp_path)
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path).strip()
    # the dependencies (TensorFlow...) from this environment; its editable cartoongan is not on
    # the path (a .pth line adds a folder, not that folder's own .pth files)
    (tmp_path / purelib / "reuse-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    where = _run([str(python), "-c", "import cartoongan.presets as p; print(p.__file__); print(p.PRETRAINED_DIR)"],
                 tmp_path).split()
    assert all(path.startswith(purelib) for path in where), where
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    env = {**_clean_environment(), "CARTOONGAN_HOME": str(tmp_path / "empty-cache"),
           "CARTOONGAN_WEIGHTS_URL": "http://127.0.0.1:9/"}
    listed = _run([str(venv / "bin" / "cartoonize"), "--list-styles"], tmp_path, env)
    shipped = (["hayao"], ["hayao_lite"], ["whitebox"])
    assert [line.split()[:2] for line in listed.splitlines() if line.split()[:1] in shipped] == [
        ["hayao", "shipped"], ["hayao_lite", "shipped"], ["whitebox", "shipped"]]
    _run([str(venv / "bin" / "cartoonize"), "--input", "x.png", "--output", "out", "--style", "hayao_lite"], tmp_path,
         env)
    assert Image.open(tmp_path / "out" / "hayao_lite" / "x.png").size == (32, 24)
    _run([str(venv / "bin" / "cartoonize"), "--input", "x.png", "--output", "out"], tmp_path, env)  # the default
    assert Image.open(tmp_path / "out" / "whitebox" / "x.png").size == (32, 24)
    assert not (tmp_path / "empty-cache").exists()  # nothing was downloaded


def _importable(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _clean_environment():
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CARTOONGAN_HOME", "CARTOONGAN_WEIGHTS_URL")}


def _run(command, cwd, env=None):
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600,
                            env=env or _clean_environment())
    assert result.returncode == 0, f"{command}: {result.stderr}"
    return result.stdout
