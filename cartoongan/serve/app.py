"""The ASGI application: the page at `/`, the HTTP API (`API`: its routes, answers and errors),
limits and the inference queue. The client's style name is only ever a key into the
dictionary of loaded models, never a path.

Starlette rather than FastAPI: every route here reads a raw body or answers fixed JSON, so
FastAPI's request models would not be used, its validation errors (422 {"detail"}) would
have to be replaced to keep the documented error shape, and its /docs page loads scripts
from a CDN. uvicorn runs it (`cartoongan.serve.server`).
"""

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import re
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cartoongan.errors import ParameterError
from cartoongan.options import option, whole_number
from cartoongan.serve.queue import InferenceQueue, QueueFull
from cartoongan.serve.uploads import FORMATS, UploadError, UploadTooLarge, decode_image, encode_image, image_size

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_MAX_UPLOAD_MB = 20
# A 12-megapixel phone photo passes; the check is on the header, before decoding.
DEFAULT_MAX_PIXELS = 16_000_000
# The page's scripts, styles and images come from this server only; results are blob: URLs.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
                           "connect-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# On every answer (NOSNIFF) and on every HTML one, whichever route made it (`_SecurityHeaders`).
NOSNIFF = (b"x-content-type-options", b"nosniff")
HTML_HEADERS = ((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()), (b"x-frame-options", b"DENY"))
_OWN_HEADERS = {NOSNIFF[0], *(name for name, _ in HTML_HEADERS)}  # set here only, never twice
DEFAULT_READ_TIMEOUT = 30.0
# Beyond the read timeout, a body must come at least this fast on average (a slow mobile
# link manages several times more): one byte every few seconds must not hold a connection
# for days. 20 MB may take 30 s + 21 min; a 3 MB photo 30 s + 3 min.
MIN_UPLOAD_BYTES_PER_SECOND = 16 * 1024
# A client's name for its request, to ask GET /api/progress about it (the page: 128 random bits).
JOB_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
MULTIPART_HINT = ("send the image file's bytes as the request body (curl --data-binary @photo.jpg URL), "
                  "not a multipart form (curl -F)")
FORM_HINT = "curl -d strips newlines: send the file with --data-binary @FILE"
# The query fields each route reads; any other is refused by name (a typo such as
# `strenght` must not give a full-strength answer).
CARTOONIZE_FIELDS = ("style", "format", "max_size", "job", "style_size", "strength", "keep_colors", "portrait",
                     "face_style")
PROGRESS_FIELDS = ("job",)
log = logging.getLogger("cartoongan.serve")
# What the server answers (cartoongan-serve --help shows it).
API = """API (errors are JSON {"error": "..."}):
  GET  /                                        the page (static/index.html; every asset local)
  GET  /api/styles                              {"default": NAME, "styles": [{"name", "description",
                                                "license", "cached", "served"}]}: every style, with
                                                licence and whether it is served
  POST /api/cartoonize?style=NAME[&max_size=N][&format=png|jpg][&job=ID]   body: the image file's bytes
       [&style_size=N][&strength=0..1][&keep_colors=true|false]: the look, as cartoonize's flags
       [&portrait=true[&face_style=NAME]]: faces by a served face style (default animeganv3_hayao)
       (curl --data-binary @photo.jpg; a multipart form, curl -F, is refused with that hint)
       -> the image (PNG by default, the input's size unless max_size); 400 not an image, a
          corrupt one, a multipart form, a bad parameter or an unknown one (named), 404 unknown style, 408 the request
          stalled (--read-timeout), 413 over the upload or pixel limit (checked in the image's
          header, before decoding), 503 busy (queue full; Retry-After: the median recent job
          time for each job ahead)
  GET  /api/progress?job=ID                     {"state": "waiting"|"running", "pass": K, "passes": N,
                                                "tiles_done": D, "tiles": T} of the request in
                                                flight sent with job=ID (8-64 letters, digits, -
                                                or _): in pass K of N, D of T tiles done over all
                                                passes; all 0 unless the photo runs in tiles (a
                                                large one); 404 when none is in flight
  GET  /healthz                                 {"status": "ok", "styles": [...], "queue": {...}}"""


@dataclasses.dataclass(frozen=True)
class StyleInfo:
    name: str
    description: str
    license: str
    cached: bool  # usable without a download
    served: bool  # loaded by this server
    details: str = ""  # paper, architecture, provenance: the page shows them on demand


def megabytes(text):
    """`20` (MB of 2**20 bytes, a float) -> bytes; `Limits` checks the value."""
    return int(float(text) * 2**20)


def megapixels(text):
    """`16` (megapixels, a float) -> pixels; `Limits` checks the value."""
    return int(float(text) * 1e6)


@dataclasses.dataclass(frozen=True)
class Limits:
    """What the server accepts; checked when made (ParameterError naming the field). The
    fields are also options of `cartoongan-serve`, whose --help shows their help text."""

    max_upload_bytes: int = option(DEFAULT_MAX_UPLOAD_MB * 2**20, "largest accepted upload in MB",
                                   flag="--max-upload-mb", type=megabytes, metavar="MB",
                                   shown_default=DEFAULT_MAX_UPLOAD_MB)
    max_pixels: int = option(DEFAULT_MAX_PIXELS, "largest accepted image in megapixels, checked in its header before "
                             "decoding", flag="--max-megapixels", type=megapixels, metavar="MP",
                             shown_default=f"{DEFAULT_MAX_PIXELS / 1e6:g}")
    workers: int = option(1, "images cartoonized at once (one already uses every core)", metavar="N")
    queue_size: int = option(8, "requests that may wait for a worker; more get 503", metavar="N")
    read_timeout: float = option(DEFAULT_READ_TIMEOUT, "seconds a client may take to send a request's headers, and "
                                 "may pause while sending its body (which gets this plus 1 s per 16 KB in all), "
                                 "before the server answers 408 and hangs up", metavar="S")

    def __post_init__(self):
        for field, least, rule in (("max_upload_bytes", 1, "> 0"), ("max_pixels", 1, "> 0"), ("workers", 1, ">= 1"),
                                   ("queue_size", 0, ">= 0")):
            if getattr(self, field) < least:
                raise ParameterError(field, "{name} must be " + rule)
        if not self.read_timeout > 0:  # also refuses nan
            raise ParameterError("read_timeout", "{name} must be > 0")


def style_catalogue(served_configs):
    """Every known style (cached or not) and every served preset, as StyleInfo rows.

    `served_configs`: {name: config.json dict of the loaded preset}."""
    from cartoongan.presets import STYLES, available_presets, read_preset_config, resolve_preset

    rows = []
    for name, origin, local in available_presets():
        config = served_configs.get(name)
        if config is None and origin == "embedded":
            config = read_preset_config(resolve_preset(name))  # shipped: no download
        rows.append(_describe(name, config or {}, STYLES.get(name), local, name in served_configs))
    known = {row.name for row in rows}
    rows += [_describe(name, config, None, True, True) for name, config in served_configs.items() if name not in known]
    return rows


def _describe(name, config, style, cached, served):
    from cartoongan.presets import style_summary

    description, license, details = style_summary(name, config)
    return StyleInfo(name, description, license, cached, served, details)


class JobProgress:
    """Where a request sent with job=ID stands, for GET /api/progress: its worker thread
    sets `state` and, as the Cartoonizer's progress callback, the tiles and passes of a
    tiled run."""

    def __init__(self):
        self.state = "waiting"  # for a worker; "running" once one decodes the photo
        self.counts = (0, 0, 0, 0)  # one tuple, replaced whole: the event loop reads it

    def __call__(self, done, total, pass_number, passes):
        """`done` of `total` tiles over all passes, in pass `pass_number` (from 1) of `passes`."""
        self.counts = (done, total, pass_number, passes)

    def to_json(self):
        done, total, pass_number, passes = self.counts
        return {"state": self.state, "pass": pass_number, "passes": passes, "tiles_done": done, "tiles": total}


def create_app(cartoonizers, catalogue=None, default_style=None, limits=Limits()):
    """The application over `cartoonizers`, {style name: callable uint8 RGB -> uint8 RGB},
    loaded once by the caller and kept for the app's life.

    `catalogue`: StyleInfo rows for /api/styles (default: the served styles only);
    `default_style`: the page's preselected style (default: the first served)."""
    if not cartoonizers:
        raise ValueError("no styles to serve")
    if default_style is None:
        default_style = next(iter(cartoonizers))
    if default_style not in cartoonizers:
        raise ValueError(f"default style {default_style!r} is not served ({', '.join(cartoonizers)})")
    if catalogue is None:
        catalogue = [StyleInfo(name, "", "", True, True) for name in cartoonizers]
    queue = InferenceQueue(limits.workers, limits.queue_size)
    jobs = {}  # job id -> JobProgress, while its request is in flight
    page = (STATIC_DIR / "index.html").read_bytes()

    async def index(request):
        return Response(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"})

    async def styles(request):
        return JSONResponse({"default": default_style, "styles": [dataclasses.asdict(row) for row in catalogue]})

    async def healthz(request):
        return JSONResponse({"status": "ok", "styles": list(cartoonizers), "queue": queue.stats()})

    async def progress(request):
        try:
            _check_fields(request.query_params, PROGRESS_FIELDS)
        except ApiError as error:
            return _error(error.status, str(error))
        job = jobs.get(request.query_params.get("job", ""))
        if job is None:
            return _error(404, "no request in flight with this job id (not received yet, or answered)")
        return JSONResponse(job.to_json())

    async def cartoonize(request):
        try:
            _check_fields(request.query_params, CARTOONIZE_FIELDS)
            style, image_format, max_size = _options(request.query_params, cartoonizers, catalogue, default_style)
            runner = _with_portrait(_with_look(cartoonizers[style], request.query_params), request.query_params,
                                    cartoonizers)
            job = request.query_params.get("job")
            if job is not None and not JOB_ID.fullmatch(job):
                raise ApiError(400, "job must be 8 to 64 letters, digits, - or _")
            if request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
                raise ApiError(400, f"multipart form upload: {MULTIPART_HINT}")
            body = b""
            try:
                body = await _read_body(request, limits.max_upload_bytes, limits.read_timeout)
            except ClientDisconnect:
                return Response(status_code=400)  # nobody is listening any more
            if not body:
                raise ApiError(400, "empty body: send the image file's bytes as the request body")
            image_size(body, limits.max_pixels)  # the header only: cheap enough for the event loop
            if job in jobs:
                raise ApiError(400, f"job {job} is in use by a request in flight: choose another")
            progress = None if job is None else jobs.setdefault(job, JobProgress())
            try:
                try:
                    future = queue.submit(_run_job, runner, body, limits.max_pixels, max_size,
                                          image_format, progress)
                except QueueFull as error:
                    raise ApiError(503, str(error), {"Retry-After": str(error.retry_after)}) from error
                result = await _result_unless_disconnected(request, future)
            finally:
                jobs.pop(job, None)
        except ApiError as error:
            return _error(error.status, str(error), error.headers)
        except UploadError as error:
            hint = _upload_hint(body, request.headers.get("content-type", ""))
            return _error(400, f"{error} ({hint})" if hint else str(error))
        except UploadTooLarge as error:
            return _error(413, str(error))
        except Exception as error:  # e.g. TensorFlow out of memory: say so, keep serving
            log.exception("cartoonize failed")
            message = str(getattr(error, "message", error)).split("\n")[0][:300]
            return _error(500, f"cartoonizing failed: {message or type(error).__name__}")
        if result is None:
            return Response(status_code=400)  # the client went away; its slot is free
        (data, media_type), seconds = result
        extension = "jpg" if media_type == "image/jpeg" else "png"
        return Response(data, media_type=media_type, headers={
            "Content-Disposition": f'inline; filename="cartoon-{style}.{extension}"',
            "X-Style": style, "X-Inference-Seconds": f"{seconds:.3f}"})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        queue.shutdown()

    async def http_error(request, error):
        return _error(error.status_code, error.detail, headers=getattr(error, "headers", None))

    async def server_error(request, error):  # Starlette's own would be plain text
        return _error(500, "internal server error")

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/api/styles", styles, methods=["GET"]),
            Route("/api/cartoonize", cartoonize, methods=["POST"]),
            Route("/api/progress", progress, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.queue = queue
    app.state.limits = limits
    return _SecurityHeaders(app)


class _SecurityHeaders:
    """The app behind this ASGI wrapper: every answer gets X-Content-Type-Options: nosniff,
    and every HTML one the content-security policy (frame-ancestors 'none' among it) and
    X-Frame-Options, whichever route made it: `/` and `/static/index.html` alike, errors too.
    (Outside Starlette's middleware, whose error handler answers beyond its reach.)"""

    def __init__(self, app):
        self.app = app
        self.state = app.state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_secured(message):
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() not in _OWN_HEADERS]
                html = any(name.lower() == b"content-type" and value.lower().startswith(b"text/html")
                           for name, value in headers)
                message = {**message, "headers": headers + [NOSNIFF] + (list(HTML_HEADERS) if html else [])}
            await send(message)

        await self.app(scope, receive, send_secured)


class ApiError(Exception):
    """An answer other than the image: HTTP status, message (JSON "error"), extra headers."""

    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.headers = headers


def _check_fields(query, known):
    """ApiError 400 naming a query field that is not in `known`, or one given twice."""
    for name in query.keys():
        if name not in known:
            raise ApiError(400, f"unknown query field {name!r}; the known ones are {', '.join(known)}")
        if len(query.getlist(name)) > 1:
            raise ApiError(400, f"query field {name!r} is given {len(query.getlist(name))} times; give it once")


def _upload_hint(body, content_type):
    """How to send the file right, when a body that is not a readable image looks sent wrong:
    a multipart form whose header said otherwise, or curl -d's form body (curl says
    application/x-www-form-urlencoded for --data-binary too, so the header alone does not
    tell): -d drops every CR and LF, which a compressed file of a few KB almost surely has
    (a random byte avoids both with p = 254/256: 1 KB without one has p = 3e-4)."""
    head = body[:1024].lower()
    if body.startswith(b"--") and b"content-disposition: form-data" in head:
        return MULTIPART_HINT
    if content_type.lower().startswith("application/x-www-form-urlencoded") and len(body) >= 1024 \
            and b"\n" not in body and b"\r" not in body:
        return FORM_HINT
    return None


def _options(query, cartoonizers, catalogue, default_style):
    """(style, format, max_size) from the query string, or ApiError 404/400. The style is
    only looked up among the loaded models: a client's string never becomes a path."""
    style = query.get("style") or default_style
    if style not in cartoonizers:
        reason = ("is not served here (the server was not started with it)"
                  if style in {row.name for row in catalogue} else "is unknown")
        raise ApiError(404, f"style {style!r} {reason}; served styles: {', '.join(cartoonizers)}")
    image_format = query.get("format", "png").lower()
    if image_format not in FORMATS:
        raise ApiError(400, f"format must be png or jpg, not {image_format!r}")
    try:
        max_size = whole_number(query.get("max_size", "0"))
    except ValueError:
        raise ApiError(400, f"max_size must be a whole number of pixels (0: keep the size), "
                            f"not {query.get('max_size')!r}") from None
    return style, image_format, max_size


def _with_look(cartoonizer, query):
    """The cartoonizer with the look the query string asks for (style_size, strength,
    keep_colors; cartoongan.options.LookOptions), or ApiError 400 naming the parameter."""
    from cartoongan.options import LookOptions

    texts = {name: query[name] for name in ("style_size", "strength", "keep_colors") if name in query}
    try:
        look = LookOptions.parse(texts)
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    if look == LookOptions():
        return cartoonizer
    if not hasattr(cartoonizer, "with_look"):
        raise ApiError(400, f"{', '.join(texts)}: this server's styles take no look options")
    return cartoonizer.with_look(**look.to_dict())


def _with_portrait(cartoonizer, query, cartoonizers):
    """With portrait=true, the cartoonizer whose faces are drawn by the served style
    face_style (cartoongan.portrait); ApiError 400 naming the parameter otherwise."""
    from cartoongan.options import DEFAULT_FACE_STYLE, PortraitOptions

    if "portrait" not in query and "face_style" not in query:
        return cartoonizer
    flag = {"true": True, "false": False}.get(query.get("portrait", "false").strip().lower())
    if flag is None:
        raise ApiError(400, f"portrait must be true or false, not {query['portrait']!r}")
    try:
        options = PortraitOptions(flag, query.get("face_style"))
    except ParameterError as error:
        raise ApiError(400, str(error)) from None
    if not options.portrait:
        return cartoonizer
    face_style = options.face_style or DEFAULT_FACE_STYLE
    if face_style not in cartoonizers:
        raise ApiError(400, f"face_style {face_style!r} is not served; served styles: {', '.join(cartoonizers)}")
    if not hasattr(cartoonizer, "with_portrait"):
        raise ApiError(400, "portrait: this server's styles take no portrait option")
    return cartoonizer.with_portrait(cartoonizers[face_style])


def _run_job(cartoonizer, body, max_pixels, max_size, image_format, progress=None):
    """In a worker thread: decode, shrink, cartoonize, encode. -> ((bytes, media type), seconds).
    `progress`: the request's JobProgress, or None."""
    from cartoongan.images import resize_to_max

    start = time.perf_counter()
    if progress is not None:
        progress.state = "running"
    rgb, alpha = decode_image(body, max_pixels)
    rgb, alpha = resize_to_max(rgb, max_size, alpha)
    reports = progress is not None and "progress" in inspect.signature(cartoonizer).parameters
    output = cartoonizer(rgb, progress=progress) if reports else cartoonizer(rgb)
    return encode_image(output, alpha, image_format), time.perf_counter() - start


async def _read_body(request, limit, idle_timeout, min_rate=MIN_UPLOAD_BYTES_PER_SECOND):
    """The request body, refused (UploadTooLarge) as soon as it passes `limit` bytes, and
    (ApiError 408) when no byte of it comes for `idle_timeout` seconds, or when it takes
    longer than `idle_timeout` plus its length (declared, else `limit`) at `min_rate` bytes
    a second: a client that stalls or trickles must not hold its connection for ever
    (uvicorn bounds headers, not bodies)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise UploadTooLarge(_too_many_bytes(int(declared), limit))
    expected = int(declared) if declared is not None and declared.isdigit() else limit
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + idle_timeout + expected / min_rate
    chunks, size = [], 0
    stream = request.stream()
    while True:
        wait = min(idle_timeout, deadline - loop.time())
        try:
            if wait <= 0:
                raise asyncio.TimeoutError
            chunk = await asyncio.wait_for(anext(stream), wait)
        except StopAsyncIteration:
            break
        except asyncio.TimeoutError:
            if wait < idle_timeout:
                message = (f"the upload is too slow: {size:,} bytes in {loop.time() - start:.0f} s (the server "
                           f"gives {idle_timeout:g} s plus 1 s per {min_rate // 1024} KB)")
            else:
                message = f"the upload stalled: no data for {idle_timeout:g} s (the server's read timeout)"
            raise ApiError(408, message, {"Connection": "close"}) from None
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(_too_many_bytes(size, limit, at_least=True))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_many_bytes(size, limit, at_least=False):
    """Exact byte counts: in MB, 21,000,000 and 20 MB both round to 20.0."""
    allowed = f"the server's upload limit is {limit:,} bytes ({limit / 2**20:g} MB)"
    if at_least:  # streamed without a length: we stopped reading at the limit
        return f"upload is over {limit:,} bytes; {allowed}"
    return f"upload is {size:,} bytes; {allowed}"


async def _result_unless_disconnected(request, future):
    """Awaits the job; None when the client disconnects first (a waiting job is cancelled
    and never runs, so its slot frees at once)."""
    job = asyncio.wrap_future(future)
    watch = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait({job, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not job.done():
            future.cancel()
            log.info("client disconnected; its job was %s", "cancelled" if future.cancelled() else "left to finish")
            return None
        return job.result()
    finally:
        watch.cancel()
        if not job.done():
            job.cancel()


async def _disconnected(receive):
    while (await receive())["type"] != "http.disconnect":
        pass


def _error(status, message, headers=None):
    return JSONResponse({"error": message}, status_code=status, headers=headers)
