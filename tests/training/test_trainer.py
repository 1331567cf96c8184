import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cartoongan import Cartoonizer, load_generator
from cartoongan.training.trainer import Trainer, TrainingDiverged
from tests.conftest import PROJECT_ROOT
from tests.training.synthetic import synthetic_dataset, tiny_config


def _steps(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line)["step"] for line in f]


def test_runs_resumes_and_never_repeats_a_step(tmp_path):
    config = tiny_config(tmp_path)
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 4
    config.steps = 6
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 2
    assert _steps(tmp_path) == [1, 2, 3, 4, 5, 6]
    with open(tmp_path / "metrics.jsonl") as f:
        lines = [json.loads(line) for line in f]
    assert set(lines[0]) == {"step", "generator_loss", "content_loss"}  # initialization phase
    assert {"adversarial_loss", "discriminator_loss"} <= set(lines[-1])
    assert all(np.isfinite(v) for line in lines for v in line.values())
    assert Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False) == 0  # already done
    # The preset follows the checkpoints and serves the Cartoonizer.
    preset = json.loads((tmp_path / "preset" / "config.json").read_text())
    assert preset["trained_steps"] == 6
    image = np.random.default_rng(0).integers(0, 256, (21, 30, 3), dtype=np.uint8)
    assert Cartoonizer.from_pretrained(str(tmp_path / "preset"), precision="float32")(image).shape == (21, 30, 3)


def test_resume_restores_optimizer_state_and_weights(tmp_path):
    config = tiny_config(tmp_path)
    first = Trainer(config, dataset_fn=synthetic_dataset)
    first.fit(progress=False)
    second = Trainer(config, dataset_fn=synthetic_dataset)
    assert second.restore() == 4
    for a, b in [(first.generator_optimizer, second.generator_optimizer), (first.discriminator_optimizer, second.discriminator_optimizer)]:
        assert int(b.iterations.numpy()) == int(a.iterations.numpy()) > 0
        for va, vb in zip(a.variables, b.variables):
            np.testing.assert_array_equal(va.numpy(), vb.numpy())
    for va, vb in zip(first.generator.weights + first.discriminator.weights, second.generator.weights + second.discriminator.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    names = [name for name, _ in tf.train.list_variables(str(tmp_path / "checkpoints"))]
    assert sum(n.startswith("generator/variables/") for n in names) == len(first.generator.weights)


def test_run_killed_mid_save_resumes_from_last_good_checkpoint(tmp_path, monkeypatch):
    config = tiny_config(tmp_path, steps=4, checkpoint_every=2)
    original = tf.train.CheckpointManager._record_state

    def crash_on_step_4(manager):
        if manager.latest_checkpoint and manager.latest_checkpoint.endswith("-4"):
            raise KeyboardInterrupt("killed while saving")
        return original(manager)

    monkeypatch.setattr(tf.train.CheckpointManager, "_record_state", crash_on_step_4)
    with pytest.raises(KeyboardInterrupt):
        Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    monkeypatch.setattr(tf.train.CheckpointManager, "_record_state", original)
    resumed = Trainer(config, dataset_fn=synthetic_dataset)
    assert resumed.restore() == 2
    resumed.fit(progress=False)
    assert _steps(tmp_path) == [1, 2, 3, 4]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from cartoongan import losses

    config = tiny_config(tmp_path, steps=6, checkpoint_every=3)
    clean = tiny_config(tmp_path, steps=4, checkpoint_every=3)
    Trainer(clean, dataset_fn=synthetic_dataset).fit(progress=False)  # checkpoints at 3 and 4
    monkeypatch.setattr(losses, "content_loss", lambda a, b: tf.constant(float("nan")))
    with pytest.raises(TrainingDiverged, match="step 5.*ckpt-4"):
        Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert _steps(tmp_path) == [1, 2, 3, 4]
    assert tf.train.latest_checkpoint(tmp_path / "checkpoints").endswith("ckpt-4")


def test_fine_tuning_starts_exactly_from_the_preset(tmp_path, tiny_preset):
    config = tiny_config(tmp_path, init_from=str(tiny_preset), generator_config={})
    trainer = Trainer(config, dataset_fn=synthetic_dataset)
    reference = load_generator(str(tiny_preset))
    assert trainer.restore() == 0
    for ours, theirs in zip(trainer.generator.weights, reference.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert trainer.preprocessing.channel_order == "BGR"  # the preset's convention is kept
    trainer.fit(progress=False)
    assert json.loads((tmp_path / "preset" / "config.json").read_text())["preprocessing"]["channel_order"] == "BGR"


@pytest.mark.parametrize("precision, xla", [("bfloat16", "off"), ("float32", "on")])
def test_mixed_precision_and_xla_steps_are_finite(tmp_path, precision, xla):
    config = tiny_config(tmp_path, precision=precision, xla=xla, steps=3, init_steps=1)
    Trainer(config, dataset_fn=synthetic_dataset).fit(progress=False)
    assert _steps(tmp_path) == [1, 2, 3]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_local_workers_train_identical_weights(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]}
    workers = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
                   TF_CPP_MIN_LOG_LEVEL="3")
        workers.append(subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "tests" / "training" / "multi_worker_main.py"), str(tmp_path / f"w{index}")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        ))
    for worker in workers:
        output, _ = worker.communicate(timeout=300)
        assert worker.returncode == 0, output
    chief = tf.train.load_checkpoint(str(tmp_path / "w0" / "checkpoints"))
    other = tf.train.load_checkpoint(str(tmp_path / "w1" / "worker-1" / "checkpoints"))
    names = [n for n, _ in tf.train.list_variables(str(tmp_path / "w0" / "checkpoints")) if n.startswith("generator/")]
    assert names
    for name in names:
        np.testing.assert_array_equal(chief.get_tensor(name), other.get_tensor(name))
    assert _steps(tmp_path / "w0") == [1, 2, 3]
    initial = tf.train.load_checkpoint(str(tmp_path / "w0" / "checkpoints"))
    assert int(initial.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")) == 3
