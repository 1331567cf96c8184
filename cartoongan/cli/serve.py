"""cartoongan-serve: the web page and HTTP API on this machine (the work: `cartoongan.serve`).

    python tools/serve.py [--host 127.0.0.1] [--port 8000] [--styles hayao hayao_lite ...]
"""

import argparse
import functools
import sys

from cartoongan.cli.flags import add_config_flags, flag_names, usage_error
from cartoongan.presets import ENVIRONMENT

EXAMPLE = '''Example:
  python tools/serve.py --styles hayao hayao_lite &
  curl --data-binary @photo.jpg -o anime.png "http://127.0.0.1:8000/api/cartoonize?style=hayao_lite"'''
say = functools.partial(print, file=sys.stderr, flush=True)


def build_parser():
    from cartoongan.precision import PRECISIONS
    from cartoongan.serve.app import API, Limits

    parser = argparse.ArgumentParser(
        prog="cartoongan-serve", epilog="\n\n".join([API, EXAMPLE, ENVIRONMENT]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the cartoonizing page and HTTP API. Models are loaded once, at start.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine "
                                                            "only; 0.0.0.0 opens it to the network)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--styles", nargs="+", metavar="NAME",
                        help="styles or preset directories to serve, loaded at start (default: every style available "
                             "without a download: the shipped hayao and hayao_lite, and any cached one)")
    parser.add_argument("--default-style", metavar="NAME",
                        help="the page's preselected style (default: hayao when served, else the first)")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto",
                        help="arithmetic of the convolutions (default: auto, the fastest faithful one)")
    add_config_flags(parser, Limits, defaults=True)
    parser.add_argument("--verbose", action="store_true", help="TensorFlow's start-up messages and an access log")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: must be 0..65535")

    from cartoongan.presets import PresetError
    from cartoongan.serve import server
    from cartoongan.serve.app import Limits
    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    try:  # every check before the socket, the socket before the (slow) models
        limits = Limits(max_upload_bytes=args.max_upload_bytes, max_pixels=args.max_pixels, workers=args.workers,
                        queue_size=args.queue_size)
        styles, default_style = server.choose_styles(args.styles, args.default_style)
    except PresetError as error:
        say(f"cartoongan-serve: error: {error}")
        return 2
    except ValueError as error:
        usage_error(parser, error, flag_names(Limits))
    try:
        sock = server.bind(args.host, args.port)
    except OSError as error:
        parser.error(f"--host {args.host} --port {args.port}: cannot listen there ({error.strerror or error})")
    with sock:
        try:
            import_tensorflow(args.verbose)
            loaded = server.load_styles(styles, args.precision, log=say)
        except (DownloadError, PresetError, FileNotFoundError, ValueError) as error:
            say(f"cartoongan-serve: error: {error}")
            return 2
        app = server.build_app(loaded, default_style, limits)
        say(f"serving {', '.join(loaded)} on {server.url(sock)} (Ctrl+C stops)")
        if not server.is_loopback(args.host):
            say(f"warning: --host {args.host} lets other machines use this server; it has no authentication")
        server.serve(app, sock, args.verbose)
    say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
