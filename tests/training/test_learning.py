"""A reduced run of the learning suite (benchmarks/learning.py --suite): fine-tuning the
shipped hayao_lite with the trainer's defaults and the ImageNet VGG19 from ../shared, on a toy
unpaired cel style built through the real build_tfrecords, scored on held-out photos against
each photo's own target rendering.

100 steps do not learn the style: the outputs end about at the photo itself, below what
smoothing alone gains (docs/learning.md has the 1000-step runs and their bars). What this
test asserts is what 100 steps do, measured: from below the photo (hayao_lite's colour casts)
the gain climbs by >= 1.4 dB (measured 1.87 with --body-colour-weight 20 and bfloat16 where the
CPU has it; 2.01 with that term off; 1.72 with the colour loss held at the photo's level, in
float32; 1.26 before the ink path and the photo path's gain of 100), the outline
score (PSNR on the target's dark lines) ends above what smoothing the photo scores there, the
colour distribution gets closer to the targets' than the photos', and the checkerboard and
stripes stay at or under 1.2x hayao_lite's.
Slow: 4-16 minutes on 2 cores shared with other work.
"""

import importlib.util

import pytest

from tests.conftest import PROJECT_ROOT, shared_path


def _learning_module():
    spec = importlib.util.spec_from_file_location("learning", PROJECT_ROOT / "benchmarks" / "learning.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_reduced_suite_run_climbs_toward_a_cel_style_and_keeps_lines_without_artefacts(tmp_path):
    shared_path("data", "photos", "train", "ade20k")
    vgg = shared_path("weights", "vgg19", "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
    learning = _learning_module()
    # The suite's flags; everything else is the trainer's default. 100 steps of the suite's
    # cel6-blue style on 96 photos (16 held out).
    options = dict(init_from="hayao_lite", init_steps=0, image_size=64, batch_size=4, vgg_weights=str(vgg))
    lines = []
    (row,) = learning.run_suite(str(tmp_path), ["cel6-blue"], [0], 100, 100, options, count=96, eval_count=16,
                                log=lines.append)
    report = "\n".join(lines)
    assert row["gain_start"] <= -1.0, report  # hayao_lite starts below the photo: measured -1.77 dB
    assert row["gain"] >= row["gain_start"] + 1.4, report  # measured +1.87 dB (to +0.10; floor +0.36)
    assert row["outline"] > row["outline_smooth"], report  # measured +1.45 dB (start +0.03), smoothing +0.21
    assert row["swd"] < row["swd_photo"] < row["swd_start"], report  # measured 21.5 < 22.5 < 27.3
    assert row["checker"] <= 1.2 and row["stripes"] <= 1.2, report  # measured 0.65x and 0.64x
