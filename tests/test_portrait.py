"""Portraits (cartoongan.portrait): geometry with stand-in styles and detector (fast, exact),
then MTCNN on real selfies inset into real scenes (../shared)."""

import logging
import math

import numpy as np
import pytest
from PIL import Image

from cartoongan.portrait import FACE_SIZE, MIN_FACE, Face, FaceDetector, FaceTracker, Portrait
from tests.conftest import shared_path


class Flat:
    """A stand-in style: every pixel `value`; remembers what it was given."""

    def __init__(self, value):
        self.value, self.seen = value, []

    def __call__(self, image, progress=None):
        self.seen.append(image)
        return np.full_like(image, self.value)

    def with_look(self, **changes):
        return self


class Found:
    """A stand-in detector returning fixed faces."""

    def __init__(self, *faces):
        self.faces = list(faces)

    def detect(self, image):
        return self.faces


def run(faces, shape=(300, 400, 3)):
    face = Flat(255)
    portrait = Portrait(face, Found(*faces))
    return portrait(np.full(shape, 100, np.uint8), lambda image, progress=None: np.zeros_like(image)), face


def test_a_face_gets_the_face_style_inside_its_ellipse_and_nothing_outside():
    """Exact: the face box's middle is wholly the face style (255), everything outside the
    box (the blended ellipse's bounding box) is the scene style's (0), the size is kept."""
    result, face = run([Face(200, 150, 60, 80)])
    assert result.shape == (300, 400, 3)
    assert (result[140:160, 190:210] == 255).all()
    outside = np.ones(result.shape[:2], bool)
    outside[150 - 41:150 + 41, 200 - 31:200 + 31] = False
    assert (result[outside] == 0).all()
    assert face.seen[0].shape == (FACE_SIZE, FACE_SIZE, 3)  # the face style at its own size
    # Feathered: values between 0 and 255 on the rim, no hard box edge.
    assert 0 < result[150, 200 + 27, 0] < 255


def test_many_faces_and_faces_at_the_border():
    faces = [Face(50, 60, 50, 60), Face(300, 200, 70, 90), Face(2, 295, 40, 50), Face(398, 3, 44, 44)]
    result, face = run(faces)
    assert len(face.seen) == 4
    for f in faces:
        assert result[min(299, round(f.y)), min(399, round(f.x)), 0] == 255


def test_no_face_gives_the_scene_style_alone_and_says_so(caplog):
    with caplog.at_level(logging.INFO, "cartoongan.portrait"):
        result, face = run([])
    assert not face.seen and (result == 0).all()
    assert "no face" in caplog.text


def test_a_face_that_fills_the_frame_gives_the_whole_picture_to_the_face_style():
    """A selfie: no scene style anywhere, so no box around the face."""
    result, face = run([Face(128, 128, 150, 200)], shape=(256, 256, 3))
    assert (result == 255).all()
    assert face.seen[0].shape == (256, 256, 3)


def test_the_crop_has_the_eyes_level():
    """Two eye dots on a line tilted 26.6 degrees come out on one row of the crop (4x the
    photo's scale here), 1 px apart at most (unrotated: 80 px apart)."""
    image = np.zeros((300, 300, 3), np.uint8)
    angle = math.atan2(20, 40)
    for x, y in ((130, 140), (170, 160)):
        image[y - 2:y + 3, x - 2:x + 3] = 255
    face = Flat(0)
    Portrait(face, Found(Face(150, 150, 80, 80, angle))).__call__(image, lambda im, progress=None: im.copy())
    crop = face.seen[0][..., 0].astype(float)
    left, right = crop[:, :FACE_SIZE // 2], crop[:, FACE_SIZE // 2:]
    rows = [np.average(np.arange(FACE_SIZE), weights=half.sum(axis=1)) for half in (left, right)]
    assert abs(rows[0] - rows[1]) <= 1.0


def test_tracker_smooths_jitter_and_holds_a_missed_frame():
    """Detections jittering by +-6 px come out moving by at most half that per frame; a
    frame without a detection keeps the face; a new face far away starts its own track."""
    tracker = FaceTracker()
    positions = []
    for i in range(12):
        faces = tracker.update([Face(100 + 6 * (-1) ** i, 100, 80, 80)])
        positions.append(faces[0].x)
    steps = np.abs(np.diff(positions[4:]))
    assert steps.max() <= 6.0  # the raw detections jump 12 px a frame
    assert len(tracker.update([])) == 1
    assert len(tracker.update([Face(300, 300, 80, 80), Face(101, 100, 80, 80)])) == 2


def test_cartoonizer_composes_the_portrait(tiny_preset):
    """Every front end's Cartoonizer: faces by the face Cartoonizer, size kept, the scene
    style's own result where there is no face."""
    from cartoongan.inference import Cartoonizer

    scene = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")
    photo = np.random.default_rng(0).integers(0, 256, (96, 128, 3), np.uint8)
    portrait = scene.with_portrait(Flat(255), Found())
    np.testing.assert_array_equal(portrait(photo), scene(photo))
    portrait = scene.with_portrait(Flat(255), Found(Face(64, 48, 30, 30)))
    out = portrait(photo)
    assert out.shape == photo.shape and (out[48, 64] == 255).all()
    assert [o.shape for o in portrait.cartoonize_batch([photo, photo[:64]])] == [photo.shape, (64, 128, 3)]


# --- MTCNN on real faces ---------------------------------------------------------------------


def _load(path, size=None):
    image = Image.open(path).convert("RGB")
    return np.asarray(image if size is None else image.resize(size, Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def inset():
    """inset(k, side) -> (1024x768 photo: selfie k resized to side x side in the middle of
    Urban100 scene k, the inset's rectangle)."""
    selfies = sorted(shared_path("data", "photos", "selfies").glob("*.jpg"))
    scenes = sorted(shared_path("data", "photos", "train", "curban100").glob("*"))

    def make(k, side):
        canvas = _load(scenes[k], (1024, 768)).copy()
        y, x = (768 - side) // 2, (1024 - side) // 2
        canvas[y:y + side, x:x + side] = _load(selfies[-1 - k], (side, side))
        return canvas, (x, y, x + side, y + side)

    return make


@pytest.mark.slow
def test_mtcnn_finds_inset_selfies_and_leaves_small_faces_and_faceless_scenes_alone(inset):
    """Selfies from the end of the set inset at 200 and 440 px: exactly one face, its centre
    inside the inset, its box between a third of the inset and the inset. A selfie at 30 px
    (under MIN_FACE once found): none kept. Two Urban100 scenes: no face. (~20 s, most of it
    MTCNN's first call.)"""
    detector = FaceDetector()
    for k, side in ((0, 200), (1, 440)):
        photo, (x0, y0, x1, y1) = inset(k, side)
        faces = detector.detect(photo)
        assert len(faces) == 1, faces
        face = faces[0]
        assert x0 < face.x < x1 and y0 < face.y < y1
        assert side / 3 < face.size <= side * 1.1
    assert MIN_FACE > 30
    assert detector.detect(inset(0, 30)[0]) == []
    scenes = sorted(shared_path("data", "photos", "train", "curban100").glob("*"))
    for path in scenes[20:22]:
        assert detector.detect(_load(path)) == []


# --- the command line ------------------------------------------------------------------------


def test_cli_face_style_without_portrait_fails_before_any_work(tmp_path, capsys):
    from cartoongan.cli.cartoonize import main

    photo = tmp_path / "a.png"
    Image.new("RGB", (32, 32)).save(photo)
    with pytest.raises(SystemExit) as exit:
        main(["--input", str(photo), "--output", str(tmp_path / "out"), "--face-style", "hayao"])
    assert exit.value.code == 2
    assert "--face-style is for portraits: add --portrait" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_portrait_of_a_selfie_says_what_the_face_got(tmp_path, tiny_preset, capsys):
    """A selfie stored on its side with an EXIF orientation (MTCNN finds no sideways face):
    written upright at its size, and the log names it and says the face style took it."""
    from cartoongan.cli.cartoonize import main

    selfie = sorted(shared_path("data", "photos", "selfies").glob("*.jpg"))[0]
    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    Image.open(selfie).rotate(90).save(photos / "me.jpg", exif=exif, quality=95)
    Image.new("RGB", (64, 48), (90, 120, 60)).save(photos / "field.png")
    out = tmp_path / "out"
    code = main(["--input", str(photos), "--output", str(out), "--style", str(tiny_preset), "--portrait",
                 "--face-style", str(tiny_preset), "--precision", "float32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "me.jpg: one face fills the 256x256 photo" in err
    assert "field.png: no face in the 64x48 photo" in err
    assert Image.open(out / "tiny" / "me.jpg").size == (256, 256)


# --- video -----------------------------------------------------------------------------------


class Jitter:
    """A stand-in detector whose face jumps 16 px left and right every frame and misses every
    fifth frame."""

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return [] if self.calls % 5 == 0 else [Face(48 + 8 * (-1) ** self.calls, 32, 30, 30)]


def test_video_follows_faces_from_frame_to_frame(tmp_path, tiny_preset, monkeypatch):
    """Detections jumping 16 px a frame, with misses: the faces drawn move at most 8 px a frame
    (after the first few) and one is drawn on every frame."""
    from cartoongan.inference import Cartoonizer
    from cartoongan.video import cartoonize_video
    from tests.test_video import make_clip

    drawn = []
    paste = Portrait._paste
    monkeypatch.setattr(Portrait, "_paste", lambda self, image, result, face: (drawn.append(face.x),
                                                                               paste(self, image, result, face)))
    cartoonizer = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")
    source = make_clip(tmp_path / "clip.mkv", frames=15, width=96, height=64, audio=False)
    cartoonize_video(cartoonizer.with_portrait(cartoonizer, Jitter()), source, tmp_path / "out.mkv", quality=10)
    assert len(drawn) == 15
    assert np.abs(np.diff(drawn[3:])).max() <= 8


# --- the web app -----------------------------------------------------------------------------


def test_server_portrait_field_uses_a_served_face_style(tiny_preset):
    """portrait=true with face_style: the face style's Cartoonizer composed in; unknown face
    styles and bad values are refused by name, before any work."""
    from starlette.testclient import TestClient

    from cartoongan.inference import Cartoonizer
    from cartoongan.serve.app import Limits, _with_portrait, create_app
    from tests.serve.conftest import encode, photo

    tiny = Cartoonizer.from_pretrained(str(tiny_preset), precision="float32")
    composed = _with_portrait(tiny, {"portrait": "true", "face_style": "tiny"}, {"tiny": tiny})
    assert composed.portrait is not None and composed.portrait.face is tiny
    assert _with_portrait(tiny, {"portrait": "false"}, {"tiny": tiny}) is tiny
    with TestClient(create_app({"tiny": tiny}, limits=Limits())) as client:
        body = encode(photo(40, 30))
        for query, message in (("portrait=yes", "portrait must be true or false"),
                               ("portrait=true", "face_style 'animeganv3_hayao' is not served; served styles: tiny"),
                               ("face_style=tiny", "face_style is for portraits: add portrait")):
            answer = client.post(f"/api/cartoonize?style=tiny&{query}", content=body)
            assert answer.status_code == 400 and message in answer.json()["error"], answer.text


# --- Beam ------------------------------------------------------------------------------------


def test_beam_job_portrait_fields_are_checked_and_reach_the_cartoonizer(tmp_path, tiny_preset):
    """face_style without portrait is refused by name before any work; with portrait, the
    model's Cartoonizer composes the face style (no face in a flat photo: the scene's own result)."""
    pytest.importorskip("apache_beam")
    from cartoongan import beam
    from cartoongan.errors import ParameterError

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (40, 30)).save(photos / "a.png")
    job = beam.BeamJob(input=str(photos), output=str(tmp_path / "out"), style=str(tiny_preset),
                       face_style=str(tiny_preset))
    with pytest.raises(ParameterError, match="face_style is for portraits: add portrait"):
        beam.check_job(job)
    import dataclasses

    job = beam.check_job(dataclasses.replace(job, portrait=True))
    model = beam.CartoonModel(job.style, "float32", portrait=True, face_style=job.face_style)
    flat = np.full((30, 40, 3), 90, np.uint8)
    plain = beam.CartoonModel(job.style, "float32")
    np.testing.assert_array_equal(model.cartoonize_batch([flat])[0], plain.cartoonize_batch([flat])[0])
    assert model._run.__self__.portrait is not None


# --- compare ---------------------------------------------------------------------------------


def test_compare_portrait_flags(tmp_path, tiny_preset, capsys):
    """--face-style without --portrait: a usage error before any work; with it, the sheet is
    written (every style's Cartoonizer composes the face style)."""
    from cartoongan.cli.compare import cartoonizer_options, main

    photo = tmp_path / "a.png"
    Image.new("RGB", (48, 40), (120, 90, 60)).save(photo)
    with pytest.raises(SystemExit) as exit:
        main(["--photos", str(photo), "--styles", str(tiny_preset), "--face-style", str(tiny_preset),
              "--output", str(tmp_path / "sheet.png")])
    assert exit.value.code == 2 and "--face-style is for portraits: add --portrait" in capsys.readouterr().err
    assert not (tmp_path / "sheet.png").exists()
    args = ["--photos", str(photo), "--styles", str(tiny_preset), "--portrait", "--face-style", str(tiny_preset),
            "--output", str(tmp_path / "sheet.png"), "--precision", "float32"]
    from cartoongan.cli.compare import build_parser

    assert cartoonizer_options(build_parser().parse_args(args))["portrait"] is True
    assert main(args) == 0, capsys.readouterr().err
    assert (tmp_path / "sheet.png").exists()
