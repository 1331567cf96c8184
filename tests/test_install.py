"""How the project is installed (`pip install -e .`, as the README says) and imported."""

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_a_cartoongan_folder_in_the_current_directory_does_not_shadow_the_package(tmp_path):
    """From the folder that holds the clone (`~/cartoongan`), `import cartoongan` once found
    the clone as an empty namespace package: "cannot import name 'Cartoonizer'"."""
    (tmp_path / "cartoongan" / "tools").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-c", "import cartoongan; print(cartoongan.__file__)"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(PROJECT_ROOT / "cartoongan" / "__init__.py")
