"""The student stage on Keras' JAX backend, in a process where TensorFlow cannot be imported,
writes a preset that the TensorFlow Cartoonizer loads. The backend is fixed when Keras is imported, so the JAX
run is a subprocess; the teacher targets (the TensorFlow teacher's work) are made here."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cartoongan import Cartoonizer
from cartoongan.data import teacher_targets
from cartoongan.images import psnr
from cartoongan.presets import read_preset_config
from cartoongan.training import distill
from tests.conftest import PROJECT_ROOT, required_module
from tests.training.test_distill import tiny_config

required_module("jax")

# As on a host without TensorFlow: importing it fails (Keras then leaves it alone too).
_STUDENT_STAGE = """
import json, sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError("No module named 'tensorflow' (hidden by the test)")

sys.meta_path.insert(0, NoTensorFlow())
import keras
from cartoongan.training.distill import DistillConfig, train_student
preset = train_student(DistillConfig(**json.loads(sys.argv[1])), log=lambda line: None)
print(json.dumps({"backend": keras.config.backend(), "tensorflow_imported": "tensorflow" in sys.modules,
                  "preset": str(preset)}))
"""


@pytest.mark.slow
def test_the_student_stage_runs_under_jax_and_the_tensorflow_cartoonizer_loads_its_preset(tmp_path, tiny_preset):
    config = tiny_config(tmp_path, tiny_preset, eval_photos=str(tmp_path / "photos"))
    teacher_targets.precompute_teacher_targets(config.teacher, config.photos, config.data_dir,
                                               crop_size=config.crop_size, crops_per_image=config.crops_per_image,
                                               precision=config.teacher_precision, progress=None)
    teacher_targets.write_references(teacher_targets.list_photos([config.eval_photos]), config.teacher,
                                     config.references_path)
    result = subprocess.run([sys.executable, "-c", _STUDENT_STAGE, config.to_json()], cwd=PROJECT_ROOT,
                            env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"backend": "jax", "tensorflow_imported": False, "preset": f"{config.train_dir}/preset"}
    rows = distill.read_metrics(config.train_dir)
    assert [row["step"] for row in rows] == [1, 2, 3, 4] and np.isfinite(rows[-1]["val_psnr"])
    assert read_preset_config(report["preset"])["training"]["backend"] == "jax"

    # The same run on TensorFlow, here: the two students agree (same data, init and updates).
    same_on_tensorflow = tiny_config(tmp_path, tiny_preset, workdir=str(tmp_path / "tensorflow"))
    os.makedirs(same_on_tensorflow.workdir)
    os.symlink(config.data_dir, same_on_tensorflow.data_dir)
    tensorflow_preset = distill.train_student(same_on_tensorflow, log=lambda line: None)

    image = np.random.default_rng(1).integers(0, 256, (30, 26, 3), dtype=np.uint8)
    from_jax = Cartoonizer.from_pretrained(report["preset"], precision="float32")(image)
    from_tensorflow = Cartoonizer.from_pretrained(str(tensorflow_preset), precision="float32")(image)
    assert from_jax.dtype == np.uint8 and from_jax.shape == image.shape
    # Identical uint8 outputs measured (weights 2e-5 apart after 4 steps); 50 dB leaves room
    # for a pixel rounding the other way on another CPU.
    assert psnr(from_jax, from_tensorflow) > 50, psnr(from_jax, from_tensorflow)
