"""Shared CLI plumbing: one-line errors, exit codes, logging, config loading."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from typing import Callable, NoReturn, Sequence

from nic_edge import __version__
from nic_edge.core.config import Config, config_path, load_config
from nic_edge.errors import ConfigError, NicEdgeError

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
_PATH_ERRNOS = {errno.ENOENT, errno.EISDIR, errno.ENOTDIR, errno.EEXIST, errno.EACCES, errno.EPERM,
                errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP}


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    """argparse type: an integer from lo to hi (a value outside is a usage error, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo}-{hi}")
        return value
    parse.__name__ = f"integer {lo}-{hi}"
    return parse


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit 2 (no usage dump, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="config file (default $NIC_EDGE_CONFIG, else built-in defaults)")
    p.add_argument("--data-dir", metavar="DIR", help="data dir (default $NIC_EDGE_DATA, then device.data_dir, then ./nic-data)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")


_VERBOSE = 0   # -v count of this command (report_internal: the traceback with -v)


def setup_logging(verbose: int, default: int = logging.WARNING) -> None:
    """``default`` is WARNING for tools, INFO for ``serve`` (a daemon says what it does); each
    ``-v`` one level more. Native runtime chatter (TFLite's INFO lines) shows only with ``-v``."""
    global _VERBOSE
    _VERBOSE = verbose
    level = max(logging.DEBUG, default - 10 * min(verbose, 2))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    from nic_edge.core.native_log import NATIVE_LOGGER
    logging.getLogger(NATIVE_LOGGER).setLevel(logging.INFO if verbose else logging.WARNING)


def load(args: argparse.Namespace) -> Config:
    return load_config(config_path(getattr(args, "config", None)))


def print_config_error(prog: str, err: ConfigError) -> None:
    where = f" in {err.source}" if err.source else ""
    lines = err.lines()
    if len(lines) == 1:  # the usual case: one line, as every other error
        print(f"{prog}: invalid configuration{where}: {lines[0]}", file=sys.stderr)
        return
    print(f"{prog}: invalid configuration{where}:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)


def run(prog: str, func: Callable[[], int]) -> int:
    """Run a command body; NicEdgeError -> one line on stderr, never a traceback."""
    try:
        return func()
    except ConfigError as err:
        print_config_error(prog, err)
        return EXIT_USAGE
    except NicEdgeError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"{prog}: error: out of memory", file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error worth a traceback
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except OSError as exc:
        if exc.errno in _PATH_ERRNOS and exc.filename:
            # a path the user named (or one under it) cannot be used: say which and why
            print(f"{prog}: error: {exc.filename}: {exc.strerror or exc} (hint: check the path: it must "
                  "exist where a file is read, be a directory where one is written to, and be writable)",
                  file=sys.stderr)
            return EXIT_FAIL
        if exc.errno != errno.ENOSPC:
            report_internal(prog, exc)
            return EXIT_FAIL
        # the disk filled up mid-way (the up-front checks passed): say so, not "internal error"
        print(f"{prog}: error: no space left on device{f' ({exc.filename})' if exc.filename else ''} "
              "(hint: free space on the data dir's disk and run the command again; nothing half-written "
              "is used)", file=sys.stderr)
        return EXIT_FAIL
    except Exception as exc:  # boundary: a bug still gets one line; the traceback goes to the log
        report_internal(prog, exc)
        return EXIT_FAIL


def report_internal(prog: str, exc: BaseException) -> None:
    """Report an unexpected error in one line (the traceback only with -v)."""
    logging.getLogger("nic_edge").debug("internal error", exc_info=exc)
    print(f"{prog}: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
          file=sys.stderr)
    if _VERBOSE or logging.getLogger().isEnabledFor(logging.DEBUG):
        import traceback
        traceback.print_exception(exc)


def version_action(p: argparse.ArgumentParser) -> None:
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")


def main_wrapper(prog: str, build: Callable[[], argparse.ArgumentParser],
                 dispatch: Callable[[argparse.Namespace], int], argv: Sequence[str] | None,
                 daemon: Callable[[argparse.Namespace], bool] = lambda args: False) -> int:
    """``daemon(args)``: the command runs as a service and logs at INFO by default."""
    parser = build()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", 0), logging.INFO if daemon(args) else logging.WARNING)
    return run(prog, lambda: dispatch(args))
