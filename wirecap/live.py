"""``wirecap live``: capture on interfaces and write events as they happen; ``wirecap interfaces``.

The options follow tcpdump's where it has one (``-i``, ``-c``, ``-w``, ``-B``, ``--snaplen``,
``--user`` for ``-Z``) and dumpcap's ring buffer (``--ring NxSIZE``). Everything after the capture —
pipeline, decoders, sinks — is replay's, so the events are the same.
"""

import gc
import os
import pwd
import sys
from typing import Any

import click

from decoders.detect import DecoderOptions
from decoders.iiko import OrderTracker

from .capture import LiveCapture, LiveError, LiveOptions
from .floor import Floor
from .human import HumanSink
from .interfaces import listing
from .limits import limit_option, with_limits
from .live_run import LiveRun, RunOptions, capture_window
from .options import idle_timeout_option, output_option
from .orders import port_options, read_rules, rules_option
from .outfile import RotatingFile, Unbuffered, parse_size
from .pcapng_out import PcapngWriter, RingWriter
from .pipeline import Options, Pipeline
from .ports import port_settings
from .redact import keep_secrets_option
from .serve import ListenParam, WebServer, require_token, token_option
from .sink import JsonlSink
from .source import check_filter


class SizeParam(click.ParamType):
    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


class RingParam(click.ParamType):
    """``NxSIZE``: N files of SIZE each."""

    name = "NxSIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        files, _, size = value.lower().partition("x")
        try:
            if not files.isdigit() or int(files) < 2:
                raise ValueError(f"{value!r}: N must be 2 or more (e.g. 10x100MB)")
            return int(files), parse_size(size)
        except ValueError as err:
            self.fail(str(err), param, ctx)


def default_filter(options: Options) -> str:
    """The kernel filter for the ports decoded; every TCP packet with --any-port. (On Linux the kernel has
    already taken VLAN tags off the frames it hands to libpcap, so these match tagged traffic too.)"""
    if options.any_port:
        return "tcp"
    return "tcp and (" + " or ".join(f"port {p}" for p in sorted(options.ports)) + ")"


@click.command()
@click.option(
    "-i",
    "--interface",
    "interfaces",
    multiple=True,
    required=True,
    metavar="IFACE",
    help="Capture on this interface (repeatable; 'any' for all of them; see wirecap interfaces).",
)
@click.option("-f", "--filter", "bpf", metavar="BPF", help="Kernel filter [default: the decoded ports].")
@port_options
@click.option(
    "--snaplen", type=click.IntRange(64, 262144), default=262144, show_default=True, help="Bytes kept of each packet."
)
@click.option(
    "-B", "--buffer-size", type=SizeParam(), default="32MB", show_default=True, help="Kernel buffer per interface."
)
@click.option("--promisc/--no-promisc", default=True, show_default=True, help="Promiscuous mode.")
@click.option(
    "--queue-size",
    type=SizeParam(),
    default="256MB",
    show_default=True,
    help="Packets the capture process may hold while the decoder or the output is behind.",
)
@click.option("-c", "--count", type=click.IntRange(min=1), metavar="N", help="Stop after N packets.")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS", help="Stop after this long."
)
@output_option(" (appended)")
@click.option("--rotate", type=SizeParam(), help="With -o: rename FILE to FILE.1 at this size (10 kept).")
@click.option("-w", "--write", "write_packets", metavar="FILE", help="Also write the packets to FILE (pcapng).")
@click.option("--ring", type=RingParam(), help="With -w: N files of SIZE each, the oldest removed (10x100MB).")
@click.option(
    "--stats-interval",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds between statistics (stderr and capture.stats events); 0: only at exit.",
)
@idle_timeout_option("")
@click.option("--user", metavar="NAME", help="Drop root to this user once the interfaces are open (tcpdump -Z).")
@click.option("--xml", is_flag=True, help="Add each SOAP envelope as XML text to wcf.message events.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines even on a terminal.")
@click.option("--all-fields", is_flag=True, help="Keep fields whose value is null in the JSON lines.")
@click.option("-q", "--quiet", is_flag=True, help="No statistics on stderr (the capture.stats events stay).")
@click.option("--serve", type=ListenParam(), metavar="ADDR:PORT", help="Also serve the open-orders API and board here.")
@token_option
@rules_option
@keep_secrets_option
@limit_option
def live(**kw: Any) -> None:  # fmt: skip
    """Capture on network interfaces and write the events as they happen.

    Needs root or CAP_NET_RAW and CAP_NET_ADMIN. Ends on SIGINT/SIGTERM, --duration or -c with every
    pending event written, open connections closed (reason "shutdown") and final statistics: exit 0.
    """
    if not hasattr(os, "fork"):
        _fail("wirecap live needs fork (Linux, macOS, BSD); on Windows see README, Live capture")
    if kw["rotate"] and not kw["output"]:
        raise click.UsageError("--rotate needs -o FILE")
    if kw["ring"] and not kw["write_packets"]:
        raise click.UsageError("--ring needs -w FILE")
    if kw["user"]:
        try:
            pwd.getpwnam(kw["user"])
        except KeyError:
            raise click.BadParameter(f"no such user: {kw['user']}", param_hint="--user") from None
    options = with_limits(
        Options(
            **port_settings(kw["ports"]),
            any_port=kw["any_port"],
            idle_timeout=kw["idle_timeout"],
            decoder=DecoderOptions(xml=kw["xml"], keep_secrets=kw["keep_secrets"]),
        )
    )
    bpf = kw["bpf"] or default_filter(options)
    try:
        check_filter(bpf)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="'-f' / '--filter'") from None
    rules = read_rules(kw["rules_files"])
    floor = Floor(rules=rules) if kw["serve"] else None
    analyzers = (*((floor,) if floor else ()), OrderTracker(rules))  # Floor first: it sees events in seq order
    server = _web_server(kw, floor)  # bound now: a taken port is an error before the capture starts
    opts = LiveOptions(tuple(kw["interfaces"]), bpf, kw["snaplen"], kw["buffer_size"], kw["promisc"], kw["queue_size"])
    try:
        capture = LiveCapture(opts)
    except LiveError as err:
        _fail(str(err))
    capture.start(kw["user"])  # from here on, as --user: the outputs are opened as that user
    out = _open_output(kw["output"], kw["rotate"])
    if kw["output"] is None and not kw["as_json"] and out.isatty():
        sink: JsonlSink = HumanSink(out, analyzers=analyzers)
    else:
        sink = JsonlSink(out, flush_each=True, analyzers=analyzers, all_fields=kw["all_fields"])
    window = capture_window(kw["count"])
    if kw["write_packets"]:
        ring = kw["ring"]
        window.writer = RingWriter(kw["write_packets"], *ring) if ring else PcapngWriter(kw["write_packets"])
    run_opts = RunOptions(kw["count"], kw["duration"], kw["stats_interval"], kw["quiet"])
    if server is not None:
        server.start()  # after the capture process was forked: a fork copies no server thread
        print(f"wirecap: serving {server.url}", file=sys.stderr, flush=True)
    gc.collect()
    gc.freeze()  # as replay: the startup objects are never scanned again
    try:
        run = LiveRun(capture, Pipeline(options), sink.write, lambda: sink.seq, run_opts, window)
        run.run()
        sink.close()
    except LiveError as err:
        _fail(str(err))
    except BrokenPipeError:  # the reader went away: stop quietly, as a filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        _fail(f"{kw['output'] or '<stdout>'}: {exc.strerror or exc}")
    finally:
        if server is not None:
            server.stop()
    if run.error:
        _fail(f"capture failed: {run.error}")


def _web_server(kw: dict[str, Any], floor: Floor | None) -> WebServer | None:
    if floor is None:
        return None
    from .api import Settings, build_app  # the web stack (about 6 MB a process): only with --serve

    host, port = kw["serve"]
    require_token(host, kw["token"], "--serve")
    settings = Settings("live", " ".join(kw["interfaces"]), kw["token"])
    return WebServer(build_app(floor, settings), host, port, "--serve")


def _open_output(output: str | None, rotate: int | None) -> Unbuffered | RotatingFile:
    if output is None:
        return Unbuffered(sys.stdout.fileno())
    try:
        out = RotatingFile(output, rotate)
    except OSError as exc:
        _fail(f"{output}: {exc.strerror or exc}")
    out.install_sighup()
    return out


def _fail(message: str) -> Any:
    click.echo(f"wirecap: error: {message}", err=True)
    sys.exit(1)


@click.command()
def interfaces() -> None:
    """List the interfaces wirecap live can capture on (-i NAME), with their addresses."""
    lines = listing()
    if not lines:
        _fail("no interfaces found (capturing may need root or CAP_NET_RAW)")
    click.echo("\n".join(lines))
