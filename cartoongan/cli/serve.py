"""cartoongan-serve: the web page and HTTP API on this machine.

    python tools/serve.py [--host 127.0.0.1] [--port 8000] [--styles hayao hayao_lite ...]
"""

import argparse
import ipaddress
import socket
import sys

_EPILOG = """API (errors are JSON {"error": "..."}):
  GET  /api/styles                              every style, with licence and whether it is served
  POST /api/cartoonize?style=NAME[&max_size=N][&format=png|jpg]   body: the image file's bytes
       -> the image (PNG by default, the input's size unless max_size); 400 not an image or a bad
          parameter, 404 unknown style, 413 over --max-upload-mb or --max-megapixels,
          503 busy (queue full; see Retry-After)
  GET  /healthz                                 {"status": "ok", ...}

Example:
  python tools/serve.py --styles hayao hayao_lite &
  curl --data-binary @photo.jpg -o anime.png "http://127.0.0.1:8000/api/cartoonize?style=hayao_lite"
"""


def build_parser():
    from cartoongan.precision import PRECISIONS
    from cartoongan.serve.app import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD_MB

    parser = argparse.ArgumentParser(
        prog="cartoongan-serve",
        description="Serve the cartoonizing page and HTTP API. Models are loaded once, at start.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; "
                             "0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--styles", nargs="+", metavar="NAME",
                        help="styles or preset directories to serve, loaded at start (default: every "
                             "style available without a download: the shipped hayao and hayao_lite, "
                             "and any cached one)")
    parser.add_argument("--default-style", metavar="NAME",
                        help="the page's preselected style (default: hayao when served, else the first)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    parser.add_argument("--workers", type=int, default=1,
                        help="images cartoonized at once (default: 1; one already uses every core)")
    parser.add_argument("--queue-size", type=int, default=8,
                        help="requests that may wait for a worker; more get 503 (default: 8)")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest accepted upload in MB (default: {DEFAULT_MAX_UPLOAD_MB})")
    parser.add_argument("--max-megapixels", type=float, default=DEFAULT_MAX_PIXELS / 1e6,
                        help="largest accepted image, checked in its header before decoding "
                             f"(default: {DEFAULT_MAX_PIXELS / 1e6:g})")
    parser.add_argument("--verbose", action="store_true", help="TensorFlow's start-up messages and an access log")
    return parser


def check_flags(args):
    from cartoongan.presets import DEFAULT_STYLE, available_presets, check_preset_name

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port}: must be 0..65535")
    if args.workers < 1:
        raise ValueError("--workers must be >= 1")
    if args.queue_size < 0:
        raise ValueError("--queue-size must be >= 0")
    if args.max_upload_mb <= 0 or args.max_megapixels <= 0:
        raise ValueError("--max-upload-mb and --max-megapixels must be > 0")
    styles = args.styles or [name for name, _, local in available_presets() if local]
    for style in styles:
        check_preset_name(style)
    if args.default_style is not None and args.default_style not in styles:
        raise ValueError(f"--default-style {args.default_style}: not among --styles {' '.join(styles)}")
    if len(set(styles)) != len(styles):
        raise ValueError(f"--styles {' '.join(styles)}: a style is named twice")
    return styles, args.default_style or (DEFAULT_STYLE if DEFAULT_STYLE in styles else styles[0])


def served_name(style):
    """The name clients use: the style's, or for a preset directory the name in its config
    (checked when read) or its folder's name made safe."""
    from cartoongan.presets import STYLES, embedded_presets, preset_name_from_path, read_preset_config

    if style in STYLES or style in embedded_presets():
        return style
    return read_preset_config(style).get("name") or preset_name_from_path(style)


def load_styles(styles, precision, verbose):
    """{served name: (Cartoonizer, config)}, each loaded and run once (traced) before serving."""
    import numpy as np

    from cartoongan.cli.quiet import import_tensorflow

    import_tensorflow(verbose)
    from cartoongan.inference import Cartoonizer
    from cartoongan.presets import read_preset_config, resolve_preset

    loaded = {}
    for style in styles:
        name = served_name(style)
        if name in loaded:
            raise ValueError(f"--styles: two presets are both named {name!r}")
        cartoonizer = Cartoonizer.from_pretrained(style, precision=precision)
        cartoonizer(np.zeros((16, 16, 3), np.uint8))  # warm: the graph is traced once, for every size
        loaded[name] = (cartoonizer, read_preset_config(resolve_preset(style)))
        print(f"loaded {name}", file=sys.stderr, flush=True)
    return loaded


def bind(host, port):
    """A listening socket; port 0 takes a free one (the real port is then printed)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _is_loopback(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    from cartoongan.presets import PresetError
    from cartoongan.weights.download import DownloadError

    try:
        styles, default_style = check_flags(args)
    except PresetError as error:
        print(f"cartoongan-serve: error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        parser.error(str(error))
    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        parser.error(f"--host {args.host} --port {args.port}: cannot listen there ({error.strerror or error})")
    try:
        loaded = load_styles(styles, args.precision, args.verbose)
        default_name = served_name(default_style)
    except (DownloadError, PresetError, FileNotFoundError, ValueError) as error:
        print(f"cartoongan-serve: error: {error}", file=sys.stderr)
        sock.close()
        return 2

    import uvicorn

    from cartoongan.serve.app import Limits, create_app, style_catalogue

    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=int(args.max_megapixels * 1e6),
                    workers=args.workers, queue_size=args.queue_size)
    app = create_app({name: c for name, (c, _) in loaded.items()},
                     catalogue=style_catalogue({name: config for name, (_, config) in loaded.items()}),
                     default_style=default_name, limits=limits)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {', '.join(loaded)} on http://{shown}:{port}/ (Ctrl+C stops)", file=sys.stderr, flush=True)
    if not _is_loopback(args.host):
        print(f"warning: --host {args.host} lets other machines use this server; it has no authentication",
              file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level="info" if args.verbose else "warning", access_log=args.verbose,
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C after its clean shutdown: the normal way out
        pass
    print("stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
