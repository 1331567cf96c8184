"""A student run killed (SIGKILL) after logging an epoch but before backing it up resumes at its
last backup and ends exactly where an uninterrupted run ends, with each epoch logged once."""

import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cartoongan.data import teacher_targets
from cartoongan.presets import load_preset
from cartoongan.training import distill
from tests.conftest import PROJECT_ROOT
from tests.training.test_distill import tiny_config

# train_student in a fresh process, killed by SIGKILL at the end of the epoch named in argv[2]:
# user callbacks run after the metrics row is written and before the epoch's backup.
_KILLED_RUN = """
import json, os, signal, sys
import keras
from cartoongan.training.distill import DistillConfig, train_student

class Kill(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

train_student(DistillConfig(**json.loads(sys.argv[1])), callbacks=[Kill()], log=lambda line: None)
"""


@pytest.mark.slow
def test_a_killed_run_resumes_exactly_and_logs_every_epoch_once(tmp_path, tiny_preset):
    uninterrupted = tiny_config(tmp_path, tiny_preset, workdir=str(tmp_path / "uninterrupted"), steps=6,
                                epoch_steps=2, eval_every=2)
    teacher_targets.precompute_teacher_targets(uninterrupted.teacher, uninterrupted.photos, uninterrupted.data_dir,
                                               crop_size=24, precision="float32", progress=None)
    killed = tiny_config(tmp_path, tiny_preset, workdir=str(tmp_path / "killed"), steps=6, epoch_steps=2,
                         eval_every=2)
    shutil.copytree(uninterrupted.data_dir, killed.data_dir)

    result = subprocess.run([sys.executable, "-c", _KILLED_RUN, killed.to_json(), "1"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == -9, result.stderr[-3000:]
    # Killed between the row of epoch 1 (steps 3-4) and its backup: the backup holds epoch 0.
    assert [row["step"] for row in distill.read_metrics(killed.train_dir)] == [2, 4]

    logs = []
    distill.train_student(killed, log=logs.append)
    assert "resumed from the backup at step 2 of 6" in logs
    assert [line for line in logs if line.startswith("{")][0].startswith('{"step": 4,')  # step 4 again, then on

    distill.train_student(uninterrupted, log=lambda line: None)
    resumed_rows, reference_rows = distill.read_metrics(killed.train_dir), distill.read_metrics(uninterrupted.train_dir)
    assert [row["step"] for row in resumed_rows] == [2, 4, 6]
    np.testing.assert_allclose([row["loss"] for row in resumed_rows], [row["loss"] for row in reference_rows],
                               rtol=1e-6)
    resumed, _, _ = load_preset(f"{killed.train_dir}/preset")
    reference, _, _ = load_preset(f"{uninterrupted.train_dir}/preset")
    for a, b in zip(resumed.weights, reference.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6, err_msg=a.path)


@pytest.mark.parametrize("torn", ["old epoch", "torn json"])
def test_a_backup_torn_between_weights_and_epoch_resumes_from_the_one_before(tmp_path, tiny_preset, torn):
    config = tiny_config(tmp_path, tiny_preset, steps=2, eval_every=1)
    teacher_targets.precompute_teacher_targets(config.teacher, config.photos, config.data_dir, crop_size=24,
                                               precision="float32", progress=None)
    distill.train_student(config, log=lambda line: None)
    backup = f"{config.train_dir}/{distill.BACKUP_DIR}"
    # As a kill after writing the weights of step 2 and before their epoch leaves it:
    with open(f"{backup}/training_metadata.json", "w") as f:
        f.write('{"epoch": 1, "batch": 0}' if torn == "old epoch" else '{"epo')

    logs = []
    distill.train_student(dataclasses.replace(config, steps=3), log=logs.append)
    assert f"the last backup in {backup} was torn by a kill: restored the one before it, at step 1" in logs
    assert "resumed from the backup at step 1 of 3" in logs
    assert [row["step"] for row in distill.read_metrics(config.train_dir)] == [1, 2, 3]


def test_a_torn_backup_without_a_usable_previous_one_names_both(tmp_path):
    for name in ("latest.weights.h5", "training_metadata.json", "latest.weights.h5.bkp", "training_metadata.json.bkp"):
        (tmp_path / name).write_text("{")
    with pytest.raises(RuntimeError, match=r"training_metadata.json .*latest.weights.h5, .*\.json.bkp and .*h5.bkp"):
        distill.restore_torn_backup(str(tmp_path), 50)
