"""``wirecap``: replay captures into one ordered event stream (``replay``), print the event schema
(``schema``), list the open iiko orders (``orders``) and the message shapes seen (``inspect``).

Exit status: 0 done; 2 bad usage; 1 unreadable or corrupt input (after every event up to the damage
was written, with a one-line error naming the file and the byte offset) or an output that cannot be
written; 130 / 143 stopped by SIGINT / SIGTERM (after the summary line).
"""

import dataclasses
import gc
import json
import os
import sys
from typing import IO, Any, NoReturn

import click

from decoders.iiko import OrderTracker
from decoders.interface import DecoderOptions
from decoders.schema import json_schema

from .human import HumanSink
from .inspect import inspect as inspect_command
from .limits import limit_option, limits_command, with_limits
from .live import interfaces as interfaces_command
from .live import live as live_command
from .options import capture_options, idle_timeout_option, output_option
from .orders import orders as orders_command
from .orders import port_options, read_rules, rules_option
from .orders_view import orders_schema
from .pipeline import Options, Pipeline
from .ports import PortSpec, port_settings
from .redact import keep_secrets_option
from .runner import CaptureArgs, report, run_capture, summary
from .serve import serve as serve_command
from .sink import JsonlSink
from .source import Source
from .stopping import StopGuard
from .version import version_text


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_text())
        ctx.exit()


class _Commands(click.Group):
    """The command group; a bug anywhere outside one connection's decoder (those become ``decoder_error``
    anomalies) ends the run with one line on stderr and status 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            click.echo(f"wirecap: error: internal error, please report it with the capture: {exc!r}", err=True)
            sys.exit(1)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version, the decoding core in use and libpcap's version.",
)
def main() -> None:
    """Sniff and decode iiko POS LAN traffic (WCF net.tcp on 8506, iikoRMS HTTP on 8080)."""


@main.command()
@capture_options
@output_option()
@click.option("-w", "--write", "write_packets", metavar="FILE", help="Also write the packets read to FILE (pcapng).")
@port_options
@idle_timeout_option(" of capture time")
@click.option("--xml", is_flag=True, help="Add each SOAP envelope as XML text to wcf.message events.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines even on a terminal (the default elsewhere).")
@click.option("--all-fields", is_flag=True, help="Keep fields whose value is null in the JSON lines.")
@click.option("--progress", is_flag=True, help="Show a progress bar on stderr while reading files.")
@click.option("-q", "--quiet", is_flag=True, help="No summary line on stderr.")
@rules_option
@keep_secrets_option
@limit_option
def replay(
    capture: CaptureArgs,
    output: str | None,
    write_packets: str | None,
    ports: tuple[PortSpec, ...],
    any_port: bool,
    idle_timeout: float,
    xml: bool,
    as_json: bool,
    all_fields: bool,
    progress: bool,
    quiet: bool,
    rules_files: tuple[str, ...],
    keep_secrets: bool,
) -> None:
    """Decode PCAP files (pcap or pcapng; - for a pcap stream on stdin) into events.

    Several files are merged into one time-ordered stream. On a terminal each event is one readable
    line; into a pipe or a file (or with --json), JSON Lines.
    """
    guard = StopGuard()
    guard.install()
    if output and not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise click.BadParameter(f"no such directory for {output}", param_hint="'-o'")
    analyzers = (OrderTracker(read_rules(rules_files)),)
    out, out_name = _open_output(output)
    streaming = "-" in capture.inputs
    if output is None and not as_json and out.isatty():
        sink: JsonlSink = HumanSink(out, analyzers=analyzers)
    else:
        sink = JsonlSink(out, flush_each=streaming, analyzers=analyzers, all_fields=all_fields)
    options = Options(
        **port_settings(ports),
        any_port=any_port,
        idle_timeout=idle_timeout,
        decoder=DecoderOptions(xml=xml, keep_secrets=keep_secrets),
    )
    _tune_gc()
    bar = _ProgressBar(capture.inputs) if progress and not streaming else None
    capture = dataclasses.replace(capture, write=write_packets)
    try:
        outcome = run_capture(capture, Pipeline(with_limits(options)), sink.write, guard, bar.tick if bar else None)
        if outcome.stopped is not None and outcome.stopped.forced and out is sys.stdout:
            _drop_stdout()  # it was blocked: what is buffered would block the exit too
        sink.close()
        if output:
            out.close()
    except BrokenPipeError:
        _quiet_broken_pipe()
    except OSError as exc:
        _output_failed(exc.filename or out_name, exc, out is sys.stdout)
    finally:
        if bar:
            bar.close()
    if not quiet:
        click.echo(summary(outcome, sink.seq), err=True)
    report(outcome)
    sys.exit(outcome.status)


@main.command()
@click.option("--orders", "of_orders", is_flag=True, help="The schema of `wirecap orders --json` instead.")
@click.option("--openapi", is_flag=True, help="The OpenAPI document of `wirecap serve` instead.")
def schema(of_orders: bool, openapi: bool) -> None:
    """Print the JSON Schema of every event kind (one output line validates against it)."""
    from .openapi import openapi_document

    document = openapi_document() if openapi else orders_schema() if of_orders else json_schema()
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _open_output(output: str | None) -> tuple[IO[str], str]:
    """The events' destination and its name for messages; one error line and exit 1 if unusable."""
    if output:
        try:
            return open(output, "w", encoding="utf-8"), output
        except OSError as exc:
            _output_failed(output, exc, False)
    if sys.stdout is None:  # started with stdout closed (>&-)
        click.echo("wirecap: error: <stdout>: closed: nowhere to write the events", err=True)
        sys.exit(1)
    return sys.stdout, "<stdout>"


def _output_failed(name: str, exc: OSError, stdout: bool) -> NoReturn:
    click.echo(f"wirecap: error: {name}: {exc.strerror or exc}", err=True)
    if stdout:  # what is still buffered for stdout would fail again at exit
        _drop_stdout()
    sys.exit(1)


def _drop_stdout() -> None:
    """From now on stdout goes nowhere (the buffered rest included)."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _ProgressBar:
    """Byte progress over all inputs, drawn by click on stderr."""

    def __init__(self, inputs: tuple[str, ...]) -> None:
        total = sum(os.path.getsize(path) for path in inputs)
        self.bar = click.progressbar(length=total, label="reading", file=sys.stderr, width=30)
        self.bar.__enter__()
        self.shown = 0
        self.sources: list[Source] = []

    def tick(self, sources: list[Source]) -> None:
        self.sources = sources
        done = sum(s.progress.done for s in sources)
        if done > self.shown:
            self.bar.update(done - self.shown)
            self.shown = done

    def close(self) -> None:
        self.tick(self.sources)  # the end of input is known only after the last batch
        self.bar.__exit__(None, None, None)


def _tune_gc() -> None:
    """Decoding builds many small trees that die young: a rare cyclic GC, and none over the startup objects.

    Measured on captures/wcf_buffered.pcap: 30 % less CPU. Memory stays bounded: reference counting
    frees the trees; the collector only has cycles to find, and the decoders make none.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _quiet_broken_pipe() -> NoReturn:
    """The reader went away (``| head``): stop without a traceback, as a filter should."""
    _drop_stdout()
    sys.exit(0)


main.add_command(inspect_command)
main.add_command(interfaces_command)
main.add_command(live_command)
main.add_command(limits_command)
main.add_command(orders_command)
main.add_command(serve_command)
