"""Comparing styles: photos x styles (x look values) in one labelled contact sheet, and a table
per style of time per megapixel and colour shift from the photo. How a user chooses a style,
and how a trained checkpoint is compared with the preset it started from.

    from cartoongan import compare
    photos = compare.read_photos(["a.jpg", "b.jpg"], max_size=512)
    looks = [compare.parse_look("default"), compare.parse_look("strength=0.5")]
    sheet, rows = compare.compare(photos, {"hayao": hayao, "mine": mine}, looks)

The colour shift is the mean CIEDE2000 difference between the photo and the result after a
strong Gaussian blur of both (sigma: 1/32 of the long side), which leaves the colour cast and
the change of brightness a style makes and not its strokes or texture.
"""

import time
from typing import NamedTuple

import numpy as np

from cartoongan.options import LookOptions

# Long side of a cell in the sheet (pixels) and the label band above each column.
DEFAULT_CELL = 256
_LABEL_HEIGHT = 16
_BLUR_FRACTION = 1 / 32


class Row(NamedTuple):
    """One column of the sheet: a style with a look, measured over every photo."""

    style: str
    look: str  # as `look_label` gives it
    seconds_per_megapixel: float
    colour_shift: float  # mean CIEDE2000 after the blur, over every photo's pixels


def parse_look(text):
    """`default`, or `field=value[,field=value]` with the fields of LookOptions
    (`strength=0.5,keep_colors=true`, `style_size=512`) -> LookOptions. ValueError
    (ParameterError naming the field) for anything else."""
    if text.strip() in ("", "default"):
        return LookOptions()
    texts = {}
    for part in text.split(","):
        name, sep, value = (item.strip() for item in part.partition("="))
        if not sep:
            raise ValueError(f"expected field=value, not {part!r} in {text!r}")
        texts[name.replace("-", "_")] = value
    return LookOptions.parse(texts)


def look_label(look):
    """What a column says of its look: `default`, or the values that differ from it."""
    default = LookOptions()
    changed = [f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
               for name, value in look.to_dict().items() if value != getattr(default, name)]
    return ",".join(changed) or "default"


def read_photos(paths, max_size=DEFAULT_CELL * 2):
    """{path: uint8 RGB} for image files, shrunk to `max_size` on the long side (0: as they
    are). Raises ImageReadError naming the file that cannot be read."""
    from cartoongan.images import read_image, resize_to_max

    photos = {}
    for path in paths:
        rgb, _ = read_image(path, max_size=max_size)
        photos[path] = resize_to_max(rgb, max_size)[0]
    return photos


def colour_shift(photo, result):
    """Mean CIEDE2000 between `photo` and `result` (uint8 RGB of one size) after a Gaussian
    blur of 1/32 of the long side."""
    import cv2

    from cartoongan.look import ciede2000, rgb_to_lab

    sigma = max(photo.shape[:2]) * _BLUR_FRACTION
    blur = lambda image: cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return float(np.mean(ciede2000(rgb_to_lab(blur(photo)), rgb_to_lab(blur(result)))))


def compare(photos, cartoonizers, looks=(LookOptions(),), cell=DEFAULT_CELL):
    """-> (sheet, rows): the contact sheet (uint8 RGB: a row per photo, the photo first, then a
    column per style and look, labelled) and a Row per column.

    `photos`: {name: uint8 RGB}; `cartoonizers`: {style label: Cartoonizer}; `looks`:
    LookOptions, each applied to every style (`Cartoonizer.with_look`). The time is the
    cartoonizer's alone, after a warm-up call on the first photo."""
    if not photos or not cartoonizers or not looks:
        raise ValueError("need at least one photo, one style and one look")
    columns, rows = [], []
    for style, cartoonizer in cartoonizers.items():
        for look in looks:
            run = cartoonizer.with_look(**look.to_dict())
            run(next(iter(photos.values())))  # warm-up: tracing
            results, seconds, pixels, shifts = [], 0.0, 0, []
            for photo in photos.values():
                start = time.perf_counter()
                result = run(photo)
                seconds += time.perf_counter() - start
                pixels += photo.shape[0] * photo.shape[1]
                shifts.append(colour_shift(photo, result))
                results.append(result)
            label = look_label(look)
            rows.append(Row(style, label, seconds / (pixels / 1e6), float(np.mean(shifts))))
            columns.append((style if len(looks) == 1 else f"{style}: {label}", results))
    return contact_sheet(list(photos.values()), columns, cell), rows


def contact_sheet(photos, columns, cell=DEFAULT_CELL):
    """The photos in the first column and each (label, results) column beside them, every
    image fitted into a cell x cell box, labels above the columns."""
    from PIL import Image, ImageDraw

    from cartoongan.images import resize

    columns = [("photo", photos)] + list(columns)
    heights = [_fit(photo.shape[:2], cell)[0] for photo in photos]
    sheet = Image.new("RGB", (cell * len(columns), _LABEL_HEIGHT + sum(heights)), "white")
    draw = ImageDraw.Draw(sheet)
    for x, (label, images) in enumerate(columns):
        draw.text((x * cell + 4, 2), _shorten(draw, label, cell - 8), fill="black")
        y = _LABEL_HEIGHT
        for image, height in zip(images, heights):
            fitted = _fit(image.shape[:2], cell)
            sheet.paste(Image.fromarray(resize(image, fitted[::-1])), (x * cell + (cell - fitted[1]) // 2, y))
            y += height
    return np.asarray(sheet)


def _fit(shape, cell):
    scale = cell / max(shape)
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _shorten(draw, text, width):
    while len(text) > 1 and draw.textlength(text) > width:
        text = text[:-2] + "…"
    return text


def format_table(rows):
    """The rows as a Markdown table, per style."""
    lines = ["| style | look | s per MP | colour shift (CIEDE2000) |", "|---|---|---:|---:|"]
    lines += [f"| {row.style} | {row.look} | {row.seconds_per_megapixel:.2f} | {row.colour_shift:.1f} |"
              for row in rows]
    return "\n".join(lines)


def style_labels(styles):
    """{label: style} for style names and preset folders: the name a style goes by
    (`cartoongan.jobs.style_name`), numbered where two would share one (two runs' presets)."""
    from cartoongan.jobs import style_name

    names = [style_name(style) for style in styles]
    return {name if names.count(name) == 1 else f"{name} ({index + 1})": style
            for index, (name, style) in enumerate(zip(names, styles))}
