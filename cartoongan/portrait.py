"""Portraits: faces by a face style, the rest of the photo by the scene style.

    scene = Cartoonizer.from_pretrained("whitebox", portrait=True, face_style="animeganv3_hayao")
    anime = scene(photo)

Each face is found (`FaceDetector`: MTCNN, weights inside its package, run on a copy of
the photo shrunk to `DETECT_SIZE`), cut out with its eyes level and a margin, resampled to
the face style's own size (`FACE_SIZE`), stylized, warped back and blended over the scene
style's result with a feathered ellipse around the face, so no box shows. Faces smaller
than `MIN_FACE` pixels stay in the scene style (a face style does little at that size); one
face that fills the frame (`SELFIE_AREA`) gives the whole picture to the face style. The
scene style runs on the whole photo as the Cartoonizer runs it (in tiles when large), and a
face runs at its own size, so memory stays bounded at full resolution.

Video: `FaceTracker` follows faces from frame to frame and smooths where each one is cut
out, so the face style neither jumps nor flickers where a detection wobbles or misses a frame.
Measurements: docs/portraits.md.
"""

import logging
import math
from dataclasses import dataclass, replace

import numpy as np

from cartoongan.options import DEFAULT_FACE_STYLE  # noqa: F401  (the face style's home is the options)

log = logging.getLogger("cartoongan.portrait")

# Long side of the copy faces are searched in at most: MTCNN's smallest face is 20 px there,
# so a 12 MP photo finds faces of 78 px and more (smaller ones help little).
DETECT_SIZE = 1024
# MTCNN's last-stage score a face needs: at 0.95, 7 of 60 selfies inset at 440 px in
# Urban100 scenes were missed, at 0.8 3 of 60, for one more false face (0.914) on 120
# people-free scenes at 1024x768 (two score 0.978 and 1.0: no threshold removes those).
MIN_CONFIDENCE = 0.8
# Faces whose box is smaller (long side, pixels of the photo) stay in the scene style: the
# face style adds little there, and the copy faces are searched in puts such a face at
# _SEARCH_SIZE px, clear of MTCNN's 20 px floor where window frames and foliage pass for
# faces (one at 0.988 on an Urban100 facade at 22 px).
MIN_FACE = 64
_SEARCH_SIZE = 32
# The side a face crop runs at: the face styles were trained on 512 px portraits.
FACE_SIZE = 512
# The crop around a face is this many times the face box's long side: hair, ears and chin
# inside, as in the portraits the face styles were trained on.
CROP_SCALE = 1.6
# The blended ellipse's half axes, as a multiple of the face box's half sides, and the
# fraction of its radius over which the face style fades out into the scene style.
MASK_SCALE = (1.0, 1.0)
FEATHER = 0.3
# One face whose box covers at least this share of the frame: a selfie, the face style
# takes the whole picture.
SELFIE_AREA = 0.25


@dataclass(frozen=True)
class Face:
    """A face in photo pixels: the centre of its box, the box's sides and the tilt of the
    line between the eyes (radians, positive when the right-hand eye is lower)."""

    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    confidence: float = 1.0

    @property
    def size(self):
        return max(self.width, self.height)


class FaceDetector:
    """Faces in a uint8 RGB photo with MTCNN (TensorFlow; its weights ship in its package).

    `detect(image)` -> the faces at least `min_face` px, largest first. The network loads on
    first use (seconds) and is shared by every detector of the process."""

    _network = None

    def __init__(self, min_confidence=MIN_CONFIDENCE, min_face=MIN_FACE, detect_size=DETECT_SIZE):
        self.min_confidence, self.min_face, self.detect_size = min_confidence, min_face, detect_size

    @classmethod
    def _mtcnn(cls):
        if cls._network is None:
            from mtcnn import MTCNN

            cls._network = MTCNN()
        return cls._network

    def detect(self, image):
        from cartoongan.images import resize

        height, width = image.shape[:2]
        # The smallest face searched for at _SEARCH_SIZE px: a small copy costs least (MTCNN's
        # min_face_size parameter, set to 40, found no face at all in mtcnn 1.0.0).
        scale = min(1.0, self.detect_size / max(height, width), _SEARCH_SIZE / self.min_face)
        small = resize(image, (max(1, round(width * scale)), max(1, round(height * scale))))
        if min(small.shape[:2]) < 12:  # MTCNN's first stage needs 12 px
            return []
        faces = []
        for found in self._mtcnn().detect_faces(small, box_format="xywh"):
            if found["confidence"] < self.min_confidence:
                continue
            x, y, w, h = (v / scale for v in found["box"])
            if max(w, h) < self.min_face:
                continue
            (lx, ly), (rx, ry) = found["keypoints"]["left_eye"], found["keypoints"]["right_eye"]
            angle = math.atan2(ry - ly, rx - lx) if rx > lx else 0.0
            faces.append(Face(x + w / 2, y + h / 2, w, h, angle, float(found["confidence"])))
        return sorted(faces, key=lambda face: -face.size)


class FaceTracker:
    """Faces followed through the frames of a video: each detection joins the track whose
    last face is nearest (within its size), and a track's face is a running average of
    its detections (`smoothing`: the weight of the past), so crops do not jump; a track that
    misses a detection keeps its face for up to `hold` frames, so the style does not blink."""

    def __init__(self, smoothing=0.6, hold=6):
        self.smoothing, self.hold = smoothing, hold
        self._tracks = []  # [face, frames since last seen]

    def update(self, detected):
        """This frame's detections -> the faces to draw."""
        matched, tracks = set(), []
        for face in detected:
            best = min((i for i in range(len(self._tracks)) if i not in matched),
                       key=lambda i: math.dist((self._tracks[i][0].x, self._tracks[i][0].y), (face.x, face.y)),
                       default=None)
            if best is not None:
                old = self._tracks[best][0]
                if math.dist((old.x, old.y), (face.x, face.y)) <= old.size:
                    matched.add(best)
                    face = self._blend(old, face)
            tracks.append([face, 0])
        for i, (face, missed) in enumerate(self._tracks):
            if i not in matched and missed < self.hold:
                tracks.append([face, missed + 1])
        self._tracks = tracks
        return [face for face, _ in tracks]

    def _blend(self, old, new):
        a, b = self.smoothing, 1 - self.smoothing
        mix = lambda p, q: a * p + b * q
        return replace(new, x=mix(old.x, new.x), y=mix(old.y, new.y), width=mix(old.width, new.width),
                       height=mix(old.height, new.height), angle=mix(old.angle, new.angle))


class Portrait:
    """Composes a face style with a scene style (see the module docstring): `face` a
    Cartoonizer (uint8 RGB -> uint8 RGB), `detector` anything with `detect(image)` -> Faces."""

    def __init__(self, face, detector=None, face_size=FACE_SIZE):
        self.face = face
        self.detector = detector or FaceDetector()
        self.face_size = face_size

    def __call__(self, image, scene, progress=None, tracker=None):
        """`image` by `scene(image, progress)` with its faces by the face style."""
        faces = self.detector.detect(image)
        if tracker is not None:
            faces = tracker.update(faces)
        height, width = image.shape[:2]
        say = log.info if tracker is None else log.debug  # not every frame of a video
        if not faces:
            say("no face in the %dx%d photo: the scene style alone", width, height)
            return scene(image, progress)
        if len(faces) == 1 and faces[0].width * faces[0].height >= SELFIE_AREA * width * height:
            say("one face fills the %dx%d photo: the face style takes the whole picture", width, height)
            return self._whole(image, faces[0])
        say("%d face(s) in the %dx%d photo: face style on the faces, scene style around them",
                 len(faces), width, height)
        result = scene(image, progress)
        for face in faces:
            self._paste(image, result, face)
        return result

    def _whole(self, image, face):
        """The face style on the whole picture, at the scale its crops would run at."""
        scale = self.face_size / (CROP_SCALE * face.size)
        if scale >= 1:
            return self.face(image)
        return self.face.with_look(style_size=max(16, round(max(image.shape[:2]) * scale)))(image)

    def _transform(self, face):
        """The affine map photo -> crop (FACE_SIZE square, eyes level, face in the middle)."""
        n = self.face_size
        scale = n / (CROP_SCALE * face.size)
        a, b = math.cos(face.angle) * scale, math.sin(face.angle) * scale
        return np.array([[a, b, n / 2 - a * face.x - b * face.y],
                         [-b, a, n / 2 + b * face.x - a * face.y]]), scale

    def _paste(self, image, result, face):
        """Blends the face style's `face` into `result` (in place)."""
        import cv2

        n = self.face_size
        forward, scale = self._transform(face)
        backward = cv2.invertAffineTransform(forward)
        height, width = image.shape[:2]
        # The photo region the crop covers; shrunk first (area resampling) when the crop
        # is smaller, so a large face does not alias.
        corners = backward @ np.array([[0, 0, 1], [n, 0, 1], [0, n, 1], [n, n, 1]], float).T
        x0, y0 = np.clip(np.floor(corners.min(axis=1)).astype(int) - 1, 0, [width, height])
        x1, y1 = np.clip(np.ceil(corners.max(axis=1)).astype(int) + 2, 0, [width, height])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        region = image[y0:y1, x0:x1]
        shrink = min(1.0, scale)
        if shrink < 1:
            region = cv2.resize(region, (max(2, round((x1 - x0) * shrink)), max(2, round((y1 - y0) * shrink))),
                                interpolation=cv2.INTER_AREA)
        to_crop = forward.copy()
        to_crop[:, 2] += forward[:, :2] @ [x0, y0]
        to_crop[:, :2] /= [region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)]
        crop = cv2.warpAffine(region, to_crop, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        styled = self.face(crop)
        mask = self._mask(face, scale)
        # Back into the photo: only the rectangle the mask covers.
        ax, ay = (s * m / 2 * scale for s, m in zip((face.width, face.height), MASK_SCALE))
        reach = backward @ np.array([[n / 2 - ax, n / 2 - ay, 1], [n / 2 + ax, n / 2 - ay, 1],
                                     [n / 2 - ax, n / 2 + ay, 1], [n / 2 + ax, n / 2 + ay, 1]]).T
        x0, y0 = np.clip(np.floor(reach.min(axis=1)).astype(int) - 1, 0, [width, height])
        x1, y1 = np.clip(np.ceil(reach.max(axis=1)).astype(int) + 2, 0, [width, height])
        if x1 <= x0 or y1 <= y0:
            return
        to_photo = backward.copy()
        to_photo[:, 2] -= [x0, y0]
        size = (int(x1 - x0), int(y1 - y0))
        back = cv2.warpAffine(styled, to_photo, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        weight = cv2.warpAffine(mask, to_photo, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        weight = weight[..., None]
        under = result[y0:y1, x0:x1].astype(np.float32)
        blended = under + weight * (back.astype(np.float32) - under)
        result[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)

    def _mask(self, face, scale):
        """Float32 FACE_SIZE square: 1 over the face, fading to 0 at the ellipse's rim."""
        n = self.face_size
        ax, ay = (max(1.0, s * m / 2 * scale) for s, m in zip((face.width, face.height), MASK_SCALE))
        coords = np.arange(n, dtype=np.float32) + 0.5 - n / 2
        radius = np.sqrt((coords[None, :] / ax) ** 2 + (coords[:, None] / ay) ** 2)
        t = np.clip((1.0 - radius) / FEATHER, 0.0, 1.0)
        return (t * t * (3 - 2 * t)).astype(np.float32)  # smoothstep: no visible edge
