"""How the project is installed (`pip install -e .`, as the README says) and imported."""

import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT


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
