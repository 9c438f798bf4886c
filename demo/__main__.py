"""`python -m demo` (`make demo`): the local stack for a newcomer, with fault switches at a prompt.
`python -m demo fault NAME [ARG]` throws a switch in a running demo from another terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from demo.control import HELP, ControlServer, apply, send, urls
from demo.stack import Stack

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Once: a second Ctrl-C must not cut the cleanup short and leave servers behind.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _patience)
    raise KeyboardInterrupt  # every way to stop goes through the stack's cleanup


def _patience(signum: int, frame: FrameType | None) -> None:
    print("still stopping ...", flush=True)


def prompt(stack: Stack) -> None:
    print(f"\nFault switches (type one, or `python -m demo fault NAME` from another terminal):\n{HELP}\n")
    while True:
        try:
            line = input("demo> ")
        except EOFError:
            return
        words = line.split()
        if words[:1] == ["quit"]:
            return
        answer = apply(stack, words)
        if answer:
            print(answer)


def serve(args: argparse.Namespace) -> int:
    # SIGINT too: a shell starting the demo in the background leaves it ignored, and Python keeps it so.
    for sig in STOP_SIGNALS:
        signal.signal(sig, _interrupt)
    print("Starting the mlobs demo stack (MLflow's first start takes 30-60 s) ...", flush=True)
    try:
        with Stack(rps=args.rps, echo=True, log=lambda line: print(line, flush=True)) as stack:
            stack.wait_scraped()
            with ControlServer(stack) as control:
                stack.urls["control"] = control.url
                print(f"\nThe stack is up (GPU data is simulated: a fake 8x H100 node):\n{urls(stack)}")
                print(f"  {'logs':<17} {stack.folder}")
                if sys.stdin.isatty():
                    prompt(stack)
                else:
                    threading.Event().wait()  # until Ctrl-C or SIGTERM
    except KeyboardInterrupt:
        pass  # the stack stopped on the way out of its `with`
    print("Stopped everything.", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--rps", type=float, default=20.0, help="synthetic requests per second per model")
    commands = parser.add_subparsers(dest="command")
    fault = commands.add_parser("fault", help="throw a fault switch in the running demo")
    fault.add_argument("words", nargs="+", metavar="NAME [ARG]", help=HELP.split("\n")[0].strip())
    args = parser.parse_args(argv)
    if args.command == "fault":
        try:
            print(send(args.words))
        except RuntimeError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
