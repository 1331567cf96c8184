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
    from cartoongan.serve.app import API, Limits
    from cartoongan.serve.server import ServerOptions

    parser = argparse.ArgumentParser(
        prog="cartoongan-serve", epilog="\n\n".join([API, EXAMPLE, ENVIRONMENT]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the cartoonizing page and HTTP API. Models are loaded once, at start.")
    add_config_flags(parser, ServerOptions, defaults=True)
    add_config_flags(parser, Limits, defaults=True)
    parser.add_argument("--verbose", action="store_true", help="TensorFlow's start-up messages and an access log")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)

    from cartoongan.presets import PresetError
    from cartoongan.serve import server
    from cartoongan.serve.app import Limits
    from cartoongan.tf_runtime import import_tensorflow
    from cartoongan.weights.download import DownloadError

    try:  # every check before the socket, the socket before the (slow) models
        server.ServerOptions(host=args.host, port=args.port, styles=args.styles, default_style=args.default_style,
                             precision=args.precision)
        limits = Limits(max_upload_bytes=args.max_upload_bytes, max_pixels=args.max_pixels, workers=args.workers,
                        queue_size=args.queue_size, read_timeout=args.read_timeout)
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
