"""Comparing styles: photos x styles (x look values) in one labelled contact sheet, and a table
per style of time per megapixel and colour shift from the photo. How a user chooses a style,
and how a trained checkpoint is compared with the preset it started from.

    from cartoongan import compare
    looks = [compare.parse_look("default"), compare.parse_look("strength=0.5")]
    comparison = compare.Comparison({"hayao": hayao, "mine": mine}, looks)
    with compare.SheetWriter(compare.page_paths("sheet.png", 2, 3), comparison.labels) as sheet:
        for path in ["a.jpg", "b.jpg"]:
            sheet.add(comparison.add(compare.read_photo(path)))
    print(compare.format_table(comparison.rows()))

Memory stays bounded whatever the number of photos: one photo and its results are held at a
time, each photo's band of the sheet goes to a temporary file as it is made, and the sheet is
encoded from there (a PNG row by row, a JPEG a strip of rows at a time, a WebP a page at a
time, since its encoder needs the whole picture; JPEG and WebP end at 65,535 and 16,383
pixels: a long sheet continues in `NAME-2.jpg`, `NAME-3.jpg`, ...). `compare()` is the same
in memory, for a few photos.

The colour shift is the mean CIEDE2000 difference between the photo and the result after a
strong Gaussian blur of both (sigma: 1/32 of the long side), which leaves the colour cast and
the change of brightness a style makes and not its strokes or texture.
"""

import functools
import os
import re
import struct
import tempfile
import time
import zlib
from typing import NamedTuple

import numpy as np

from cartoongan.options import LookOptions

# Long side of a cell in the sheet (pixels) and the label band above each column.
DEFAULT_CELL = 256
DEFAULT_MAX_SIZE = 2 * DEFAULT_CELL
_LABEL_HEIGHT = 16
_BLUR_FRACTION = 1 / 32
_COLOUR_ROWS = 64  # rows of the colour difference computed at once
SHEET_FORMATS = (".jpg", ".jpeg", ".png", ".webp")
# The tallest picture each format can hold (PNG: 2**31 - 1, never reached here).
MAX_HEIGHT = {".jpg": 65_535, ".jpeg": 65_535, ".webp": 16_383, ".png": None}
# Pixels of a JPEG or WebP page, so a wide or long sheet pages sooner than its format would
# make it: 85 photos a page at the default cell with three columns. A WebP page is encoded
# whole (Pillow holds 4 bytes a pixel: 64 MB); a JPEG, in strips, pages at the same size.
PAGE_PIXELS = 16 << 20


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


def read_photo(path, max_size=DEFAULT_MAX_SIZE):
    """uint8 RGB of an image file, shrunk to `max_size` on the long side (0: as it is).
    Raises ImageReadError naming the file that cannot be read."""
    from cartoongan.images import read_image, resize_to_max

    rgb, _ = read_image(path, max_size=max_size)
    return resize_to_max(rgb, max_size)[0]


def colour_shift(photo, result, difference="ciede2000"):
    """Mean colour difference between `photo` and `result` (uint8 RGB of one size) after a
    Gaussian blur of 1/32 of the long side: CIEDE2000, or with "cie76" the CIELAB distance
    (ΔE76, which weighs saturated colours more)."""
    import cv2

    from cartoongan.look import ciede2000, rgb_to_lab

    if difference not in ("ciede2000", "cie76"):
        raise ValueError(f"difference must be ciede2000 or cie76, not {difference!r}")
    sigma = max(photo.shape[:2]) * _BLUR_FRACTION
    blur = lambda image: cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    blurred_photo, blurred_result = blur(photo), blur(result)
    total = 0.0
    # In bands of rows: CIEDE2000's float64 temporaries over a whole 512 px photo took 60 MB.
    for top in range(0, photo.shape[0], _COLOUR_ROWS):
        lab_photo = rgb_to_lab(blurred_photo[top:top + _COLOUR_ROWS])
        lab_result = rgb_to_lab(blurred_result[top:top + _COLOUR_ROWS])
        if difference == "cie76":
            distance = np.linalg.norm(lab_photo - lab_result, axis=-1)
        else:
            distance = ciede2000(lab_photo, lab_result)
        total += float(np.sum(distance, dtype=np.float64))
    return total / (photo.shape[0] * photo.shape[1])


class Comparison:
    """Photos one at a time through every style and look: `add(photo)` gives the photo's band
    of the sheet, `rows()` the measurements so far.

    `cartoonizers`: {style label: Cartoonizer}; `looks`: LookOptions, each applied to every
    style (`Cartoonizer.with_look`). The time is the cartoonizer's alone, after a warm-up call
    on the first photo."""

    def __init__(self, cartoonizers, looks=(LookOptions(),), cell=DEFAULT_CELL):
        if not cartoonizers or not looks:
            raise ValueError("need at least one style and one look")
        self.cell = cell
        self._columns = [(style, look, cartoonizer.with_look(**look.to_dict()))
                         for style, cartoonizer in cartoonizers.items() for look in looks]
        self.labels = ["photo"] + [style if len(looks) == 1 else f"{style}: {look_label(look)}"
                                   for style, look, _ in self._columns]
        self._seconds = [0.0] * len(self._columns)
        self._shifts = [0.0] * len(self._columns)
        self._pixels, self._photos = 0, 0

    def add(self, photo):
        """-> the band of `photo` (uint8 RGB, a cell wide per label): the photo, then each result."""
        results = []
        for index, (_, _, run) in enumerate(self._columns):
            if not self._photos:
                run(photo)  # warm-up: tracing
            start = time.perf_counter()
            result = run(photo)
            self._seconds[index] += time.perf_counter() - start
            self._shifts[index] += colour_shift(photo, result)
            results.append(result)
        self._pixels += photo.shape[0] * photo.shape[1]
        self._photos += 1
        return band([photo] + results, self.cell)

    def rows(self):
        """A Row per column, over the photos added so far (at least one)."""
        if not self._photos:
            raise ValueError("no photo was compared")
        return [Row(style, look_label(look), seconds / (self._pixels / 1e6), shift / self._photos)
                for (style, look, _), seconds, shift in zip(self._columns, self._seconds, self._shifts)]


def compare(photos, cartoonizers, looks=(LookOptions(),), cell=DEFAULT_CELL):
    """-> (sheet, rows), in memory: the contact sheet (uint8 RGB: a row per photo, the photo
    first, then a column per style and look, labelled) and a Row per column (see Comparison).

    `photos`: {name: uint8 RGB}."""
    if not photos:
        raise ValueError("need at least one photo, one style and one look")
    comparison = Comparison(cartoonizers, looks, cell)
    bands = [comparison.add(photo) for photo in photos.values()]
    return np.concatenate([header(comparison.labels, cell)] + bands), comparison.rows()


def contact_sheet(photos, columns, cell=DEFAULT_CELL):
    """The photos in the first column and each (label, results) column beside them, every
    image fitted into a cell x cell box, labels above the columns (uint8 RGB, in memory)."""
    labels = ["photo"] + [label for label, _ in columns]
    bands = [band([photo] + [results[index] for _, results in columns], cell) for index, photo in enumerate(photos)]
    return np.concatenate([header(labels, cell)] + bands)


def header(labels, cell=DEFAULT_CELL):
    """The label band above the columns: white, each label shortened to its cell."""
    from PIL import Image, ImageDraw

    strip = Image.new("RGB", (cell * len(labels), _LABEL_HEIGHT), "white")
    draw = ImageDraw.Draw(strip)
    for x, label in enumerate(labels):
        draw.text((x * cell + 4, 2), _shorten(draw, label, cell - 8), fill="black")
    return np.asarray(strip)


def band(images, cell=DEFAULT_CELL):
    """One photo's row of the sheet: each image fitted into its cell (centred, at the top) on
    white; as tall as the first image fitted."""
    from cartoongan.images import resize

    height = _fit(images[0].shape[:2], cell)[0]
    row = np.full((height, cell * len(images), 3), 255, np.uint8)
    for x, image in enumerate(images):
        fitted = _fit(image.shape[:2], cell)
        left = x * cell + (cell - fitted[1]) // 2
        row[:fitted[0], left:left + fitted[1]] = resize(image, fitted[::-1])[:height]
    return row


def _fit(shape, cell):
    scale = cell / max(shape)
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _shorten(draw, text, width):
    while len(text) > 1 and draw.textlength(text) > width:
        text = text[:-2] + "…"
    return text


def photos_per_page(path, labels, cell=DEFAULT_CELL):
    """How many photos a page of the sheet `path` holds (None: any number): as many as the
    format's height allows, and no more than PAGE_PIXELS for a JPEG or WebP."""
    limit = MAX_HEIGHT[os.path.splitext(path)[1].lower()]
    if limit is None:
        return None
    limit = min(limit, PAGE_PIXELS // (cell * labels))
    return max(1, (limit - _LABEL_HEIGHT) // cell)


def page_paths(path, photos, labels, cell=DEFAULT_CELL):
    """The files a sheet of `photos` photos and `labels` columns is written to: `path`, and
    when it takes more than one page `NAME-2.EXT`, `NAME-3.EXT`, ... for the rest."""
    per_page = photos_per_page(path, labels, cell)
    pages = 1 if per_page is None else max(1, -(-photos // per_page))
    stem, extension = os.path.splitext(path)
    return [path] + [f"{stem}-{page}{extension}" for page in range(2, pages + 1)]


class SheetWriter:
    """A contact sheet written band by band in bounded memory (see the module docstring).

    `paths`: the pages (`page_paths`), each written atomically where it resolves (a link is
    written through, not replaced); `labels`: the columns, as `Comparison.labels`. Use as a
    context manager: the pages are written when the block ends without an error, and
    nothing is written otherwise. `written`: the pages written."""

    def __init__(self, paths, labels, cell=DEFAULT_CELL):
        self.paths, self.written = list(paths), []
        self._header = header(labels, cell)
        self._per_page = photos_per_page(self.paths[0], len(labels), cell)
        self._pages = [[]]  # the band heights of each page
        self._file = None

    def __enter__(self):
        directory = os.path.dirname(os.path.realpath(self.paths[0]))
        os.makedirs(directory, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=directory)  # unnamed: a killed run leaves nothing
        return self

    def add(self, row):
        """Appends a photo's band (as `Comparison.add` gives it)."""
        if row.shape[1:] != self._header.shape[1:] or row.dtype != np.uint8:
            raise ValueError(f"a band of shape {row.shape} does not fit a sheet {self._header.shape[1]} wide")
        if self._per_page is not None and len(self._pages[-1]) == self._per_page:
            self._pages.append([])
        self._file.write(np.ascontiguousarray(row).tobytes())
        self._pages[-1].append(row.shape[0])

    def __exit__(self, kind, error, trace):
        try:
            if kind is None:
                self._write_pages()
        finally:
            self._file.close()

    def _write_pages(self):
        if not self._pages[0]:
            return  # nothing was added: nothing is written
        if len(self._pages) > len(self.paths):
            raise ValueError(f"{len(self._pages)} pages, {len(self.paths)} paths for them")
        self._file.seek(0)
        width = self._header.shape[1]
        for path, heights in zip(self.paths, self._pages):
            real = os.path.realpath(path)
            height = self._header.shape[0] + sum(heights)
            if real.lower().endswith(".png"):
                write_png(real, width, height, self._blocks(heights))
            else:
                write_page(real, width, height, self._blocks(heights))
            self.written.append(path)

    def _blocks(self, heights, rows=1024):
        """The header, then the bands of `heights` read back from the file, in blocks of
        about `rows` rows."""
        yield self._header
        width = self._header.shape[1]
        total = sum(heights)
        while total:
            count = min(rows, total)
            data = self._file.read(count * width * 3)
            yield np.frombuffer(data, np.uint8).reshape(count, width, 3)
            total -= count


def write_page(path, width, height, blocks, quality=95):
    """Writes a JPEG or WebP atomically from `blocks` (uint8 RGB, `width` wide, `height` rows
    in all): a JPEG a strip of rows at a time (`write_jpeg`), a WebP pasted into the one
    picture its encoder needs (no second copy of the page)."""
    from PIL import Image

    from cartoongan.atomic import atomic_file

    extension = os.path.splitext(path)[1].lower()
    if extension in (".jpg", ".jpeg") and _jpeg_restarts_written():
        def encode(partial):  # the blocks are read while the file is written
            with open(partial, "wb") as out:
                top = write_jpeg(out, height, blocks, quality)
                if top != height:
                    raise ValueError(f"{path}: {top} rows given for a picture {height} tall")
    else:
        page, top = Image.new("RGB", (width, height), "white"), 0
        for block in blocks:
            page.paste(Image.fromarray(np.ascontiguousarray(block)), (0, top))
            top += block.shape[0]
        if top != height:
            raise ValueError(f"{path}: {top} rows given for a picture {height} tall")

        def encode(partial):
            page.save(partial, format=Image.registered_extensions()[extension], quality=quality)
    try:
        with atomic_file(path, suffix=extension) as partial:
            encode(partial)
    except OSError as error:  # a full disk says "No space left on device" without the path
        raise OSError(error.errno, f"{path}: cannot write ({error.strerror or error})") from error


# Rows of a JPEG encoded at once: a multiple of 16, the height of a row of 4:2:0 MCUs.
_JPEG_STRIP_ROWS = 1024
_RESTART_MARKER = re.compile(rb"\xff[\xd0-\xd7]")  # in entropy-coded data 0xFF is stuffed (FF 00)


def write_jpeg(out, height, blocks, quality=95):
    """Encodes the rows of `blocks` (uint8 RGB of one width, `height` rows expected) as a
    baseline JPEG to the binary file `out`, in memory that does not grow with the picture;
    -> the rows given. Each strip of rows (a multiple of 16: whole rows of MCUs) is encoded
    on its own with a restart marker after every row of MCUs; their entropy-coded data, joined
    by restart markers numbered on, is the scan of the whole picture, under the first strip's
    headers with the whole height: byte for byte what Pillow writes for the whole picture with
    `quality` and `restart_marker_rows=1` (tests/test_compare.py)."""
    header, restarts, rows = None, 0, 0

    def restart(_=None):  # the next restart marker: RST0 .. RST7, then RST0 again
        nonlocal restarts
        restarts += 1
        return bytes((0xFF, 0xD0 + (restarts - 1) % 8))

    for strip in _strips(blocks):
        head, scan = _jpeg_parts(_encode_jpeg(strip, quality))
        if header is None:
            header = head
            out.write(_with_height(head, height))
        elif _with_height(head, 0) != _with_height(header, 0):
            raise RuntimeError("JPEG strips were encoded with different tables")  # same settings: never
        else:
            out.write(restart())
        out.write(_RESTART_MARKER.sub(restart, scan))
        rows += strip.shape[0]
    out.write(b"\xff\xd9")  # end of image
    return rows


def _strips(blocks, rows=_JPEG_STRIP_ROWS):
    """`blocks` regrouped into strips of `rows` rows (a multiple of 16), the last one shorter."""
    pending, count = [], 0
    for block in blocks:
        pending.append(block)
        count += block.shape[0]
        if count >= rows:
            joined = np.concatenate(pending)
            for top in range(0, count - rows + 1, rows):
                yield joined[top:top + rows]
            pending, count = [joined[count // rows * rows:]], count % rows
    if count:
        yield np.concatenate(pending)


def _encode_jpeg(rgb, quality):
    import io

    from PIL import Image

    data = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(data, format="JPEG", quality=quality, restart_marker_rows=1)
    return data.getvalue()


def _jpeg_parts(data):
    """A JPEG's bytes -> (every segment up to the start of scan, the entropy-coded data)."""
    position = 2  # after the start of image
    while True:
        if data[position] != 0xFF:
            raise ValueError("not a JPEG segment")
        marker = data[position + 1]
        position += 2 + struct.unpack(">H", data[position + 2:position + 4])[0]
        if marker == 0xDA:  # start of scan: its data runs to the end of image
            return data[:position], data[position:-2]


def _with_height(head, height):
    """`head` (the segments up to the start of scan) with the frame's height set to `height`."""
    position = 2
    while head[position + 1] != 0xC0:  # start of frame (baseline)
        position += 2 + struct.unpack(">H", head[position + 2:position + 4])[0]
    return head[:position + 5] + struct.pack(">H", height) + head[position + 7:]


@functools.cache
def _jpeg_restarts_written():
    """Whether this Pillow writes restart markers (`restart_marker_rows`; older ones do not)."""
    return b"\xff\xdd" in _jpeg_parts(_encode_jpeg(np.zeros((32, 16, 3), np.uint8), 95))[0]  # DRI segment


def write_png(path, width, height, blocks):
    """Writes a PNG atomically from `blocks` (uint8 RGB, `width` wide, `height` rows in all),
    a block at a time: memory does not grow with the picture. Rows are filtered by their
    difference from the one above (PNG filter 2) and deflated."""
    from cartoongan.atomic import atomic_file

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    try:
        with atomic_file(path, suffix=".png") as partial, open(partial, "wb") as out:
            out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
            deflate, above, rows = zlib.compressobj(6), np.zeros((1, width * 3), np.uint8), 0
            for block in blocks:
                flat = block.reshape(block.shape[0], width * 3)
                filtered = np.empty((len(flat), 1 + width * 3), np.uint8)
                filtered[:, 0] = 2
                np.subtract(flat, np.concatenate([above, flat[:-1]]), out=filtered[:, 1:])  # wraps mod 256
                above, rows = flat[-1:], rows + len(flat)
                data = deflate.compress(filtered.tobytes())
                if data:
                    out.write(chunk(b"IDAT", data))
            if rows != height:
                raise ValueError(f"{path}: {rows} rows given for a picture {height} tall")
            out.write(chunk(b"IDAT", deflate.flush()) + chunk(b"IEND", b""))
    except OSError as error:  # a full disk says "No space left on device" without the path
        raise OSError(error.errno, f"{path}: cannot write ({error.strerror or error})") from error


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
