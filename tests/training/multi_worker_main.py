"""One worker of the two-worker test: `python multi_worker_main.py WORKDIR` with TF_CONFIG set."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from cartoongan.training.trainer import Trainer  # noqa: E402
from tests.training.synthetic import synthetic_dataset, tiny_config  # noqa: E402

if __name__ == "__main__":
    config = tiny_config(sys.argv[1], distribute="multi_worker", steps=3, init_steps=1, checkpoint_every=3, batch_size=4)
    Trainer(config, dataset_fn=lambda context, seed: synthetic_dataset(context, seed, batch_size=4)).fit(progress=False)
