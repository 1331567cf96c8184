"""Starting the web app: which styles to serve, loading them once, the listening socket, uvicorn.

    from cartoongan.serve import server
    styles, default = server.choose_styles(["hayao_lite"])
    sock = server.bind("127.0.0.1", 0)
    app = server.build_app(server.load_styles(styles), default)
    print(server.url(sock)); server.serve(app, sock)

Every check (`choose_styles`, `app.Limits`) runs before a model is loaded; the socket is
bound before the models load too, so a busy port is reported at once, not after minutes.
"""

import dataclasses
import ipaddress
import signal
import socket

from cartoongan.errors import ParameterError
from cartoongan.jobs import style_name
from cartoongan.options import option
from cartoongan.precision import precision_option
from cartoongan.presets import DEFAULT_STYLE
from cartoongan.serve.app import Limits, create_app, style_catalogue


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Where the server listens (`bind`) and what it serves (`choose_styles`, `load_styles`):
    the options of `cartoongan-serve`, whose --help shows this text and the default."""

    host: str = option("127.0.0.1", "address to listen on (0.0.0.0 opens it to the network)",
                       shown_default="127.0.0.1, this machine only")
    port: int = option(8000, "port (0 picks a free one)")
    styles: list | None = option(None, "styles or preset directories to serve, loaded at start", nargs="+",
                                 metavar="NAME", shown_default="every style available without a download: the "
                                 "shipped styles and any cached one")
    default_style: str | None = option(None, "the page's preselected style", metavar="NAME",
                                       shown_default=f"{DEFAULT_STYLE} when served, else the first")
    precision: str = precision_option()

    def __post_init__(self):
        if not 0 <= self.port <= 65535:
            raise ParameterError("port", "{name} {port}: must be 0..65535", port=self.port)


def choose_styles(styles=None, default_style=None):
    """-> (styles to serve, the page's preselected one), checked before anything loads.

    `styles`: style names or preset directories (default: every style available without a
    download); `default_style`: one of them (default: DEFAULT_STYLE when served, else the first).
    Raises ValueError for an unknown style, PresetError for a malformed preset directory,
    ParameterError (`styles`, `default_style`) for a style named twice, two presets with
    one name, or a default that is not served."""
    from cartoongan.presets import available_presets, check_preset_name

    styles = list(styles or [name for name, _, local in available_presets() if local])
    for style in styles:
        check_preset_name(style)
    if default_style is not None and default_style not in styles:
        raise ParameterError("default_style", "{name} {default}: not among {names[styles]} {styles}",
                             default=default_style, styles=" ".join(styles))
    if len(set(styles)) != len(styles):
        raise ParameterError("styles", "{name} {styles}: a style is named twice", styles=" ".join(styles))
    _served_names(styles)
    return styles, default_style or (DEFAULT_STYLE if DEFAULT_STYLE in styles else styles[0])


def _served_names(styles):
    names = [style_name(style) for style in styles]
    for name in names:
        if names.count(name) > 1:
            raise ParameterError("styles", "{name}: two presets are both named {served!r}", served=name)
    return names


def load_styles(styles, precision="auto", log=None):
    """{served name (`cartoongan.jobs.style_name`): (Cartoonizer, config.json dict)}, each
    loaded and run once (traced, for every size) before serving; `log(message)` hears of
    each style loaded. ParameterError (`styles`) when two presets go by one name."""
    import numpy as np

    from cartoongan.inference import Cartoonizer
    from cartoongan.presets import read_preset_config, resolve_preset

    loaded = {}
    for style, name in zip(styles, _served_names(styles)):
        cartoonizer = Cartoonizer.from_pretrained(style, precision=precision)
        cartoonizer(np.zeros((16, 16, 3), np.uint8))  # warm: the graph is traced once, for every size
        loaded[name] = (cartoonizer, read_preset_config(resolve_preset(style)))
        if log:
            log(f"loaded {name}")
    return loaded


def build_app(loaded, default_style=None, limits=Limits()):
    """The application over `loaded` (see `load_styles`), with every known style in its
    catalogue; `default_style`: a style name or preset directory among those loaded."""
    return create_app({name: cartoonizer for name, (cartoonizer, _) in loaded.items()},
                      catalogue=style_catalogue({name: config for name, (_, config) in loaded.items()}),
                      default_style=None if default_style is None else style_name(default_style), limits=limits)


def bind(host, port):
    """A listening socket; port 0 takes a free one (see `url`). OSError when it cannot."""
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


def url(sock):
    """The address a bound socket serves, as a browser takes it (`http://[::1]:8000/`)."""
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def is_loopback(host):
    """Whether only this machine can reach a server listening on `host`."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def uvicorn_config(app, verbose=False, graceful_shutdown=5):
    """uvicorn's settings for `app` (from `create_app`): `serve` runs them, and so do the
    tests' live servers. The protocol gives a request's headers `app.state.limits.read_timeout`
    seconds and answers its own refusals in JSON (`cartoongan.serve.protocol`); the app
    itself bounds a body's pauses by the same limit."""
    import uvicorn

    from cartoongan.serve.protocol import MAX_HEADER_BYTES, guarded_protocol

    return uvicorn.Config(app, http=guarded_protocol(app.state.limits.read_timeout),
                          h11_max_incomplete_event_size=MAX_HEADER_BYTES, timeout_keep_alive=5,
                          log_level="info" if verbose else "warning", access_log=verbose,
                          timeout_graceful_shutdown=graceful_shutdown)


class _Terminated(Exception):
    """SIGTERM, raised where uvicorn re-raises the signal after its clean shutdown."""


def _terminated(signum, frame):
    raise _Terminated


def serve(app, sock, verbose=False):
    """Runs `app` under uvicorn on `sock` until Ctrl+C or SIGTERM, then returns (after
    a graceful shutdown of at most 5 s). `verbose`: uvicorn's info log and an access log."""
    import uvicorn

    # uvicorn re-raises the signal that stopped it under the handler it found: SIGTERM's
    # default one killed the process before the caller could say "stopped".
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        uvicorn.Server(uvicorn_config(app, verbose)).run(sockets=[sock])
    except (KeyboardInterrupt, _Terminated):  # after uvicorn's clean shutdown: the normal way out
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
