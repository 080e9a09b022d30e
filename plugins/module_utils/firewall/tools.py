"""Running the firewall's command line tools (iptables, ipset, nft): one place that turns a missing program,
a hung one or a refusal into a one-line FirewallError. Each backend says only how its tool words a failure."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from typing import Callable, Union

from .base import FirewallError

Stdin = Union[str, Iterator[bytes], None]  # a text, or pieces of bytes written as they are made


def first_line(stderr: str, returncode: int) -> str:
    """The first non-blank line of ``stderr``, blanks folded (``exit N`` when there is none)."""
    first = next((line for line in stderr.splitlines() if line.strip()), f"exit {returncode}")
    return " ".join(first.split())


def run_tool(
    argv: Sequence[str],
    *,
    program: str,
    label: str,
    package: str,
    timeout: float,
    stdin: Stdin = None,
    reason: Callable[[str, int], str] = first_line,
) -> str:
    """Run ``argv`` and return its stdout. FirewallError on failure, in one line: ``PROGRAM not found:
    install the PACKAGE package``, ``LABEL did not finish within Ns``, ``cannot run PROGRAM: ...`` or
    ``LABEL failed: REASON`` (``reason(stderr, exit status)``: the tool's own words)."""
    try:
        if stdin is None or isinstance(stdin, str):
            proc = subprocess.run(
                list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
            )
            returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        else:
            returncode, stdout, stderr = _run_fed(list(argv), stdin, timeout)
    except FileNotFoundError:
        raise FirewallError(f"{program} not found: install the {package} package") from None
    except subprocess.TimeoutExpired:
        raise FirewallError(f"{label} did not finish within {timeout:.0f}s") from None
    except OSError as err:
        raise FirewallError(f"cannot run {program}: {err.strerror}") from None
    if returncode != 0:
        raise FirewallError(f"{label} failed: {reason(stderr, returncode)}")
    return stdout


def _run_fed(argv: list[str], pieces: Iterator[bytes], timeout: float) -> tuple[int, str, str]:
    """Run ``argv`` writing ``pieces`` to its stdin as they are made: (exit status, stdout, stderr). A
    process that stops reading (ipset stops at its first error) ends the writing; its error follows. ipset
    restore writes nothing but that one error line, so its pipes cannot fill while we write."""
    pipe = subprocess.PIPE
    with subprocess.Popen(argv, stdin=pipe, stdout=pipe, stderr=pipe) as proc:
        try:
            for piece in pieces:
                proc.stdin.write(piece)
        except BrokenPipeError:
            pass  # communicate() below flushes and closes stdin, ignoring a broken pipe as well
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return proc.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")
