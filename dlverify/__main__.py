"""Command line: ``python -m dlverify data [list|fetch NAME ...] | report DIR | compare A B``.

``data list`` shows where each file of each data set was found (and whether its
checksum is right); ``data fetch NAME`` downloads a data set into the user
cache, verified (CIFAR-10 as its one archive, members checked by MD5). Exit
status 0 when everything asked for is present and valid.

``report DIR`` writes the HTML and Markdown of a claims report again from its
``claims.json`` (after an upgrade of dlverify, or a hand-merged file).
``compare A B`` prints the claim tests whose verdict or measured numbers differ
between two reports (folders or their ``claims.json``): exit status 1 when a
verdict differs, 0 otherwise, 2 for a report that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .data import DATASETS, get_spec, search_roots
from .data.cifar import download_cifar10, verify_file
from .data.location import ENV_VAR, download_file, environment_roots, find_file, verify
from .data.registry import CIFAR10, DataFile, DatasetSpec
from .errors import DataError, DataLocationError, ReportError


def _is_archive(spec: DatasetSpec) -> bool:
    """CIFAR-10 comes as one archive with MD5-listed members, not as per-file downloads."""
    return spec.folder == CIFAR10.folder


def _verify(spec: DatasetSpec, path: Path, file: DataFile) -> None:
    if _is_archive(spec):
        verify_file(path, file, spec)
    else:
        verify(path, file)


def _list(names: list[str]) -> int:
    print(
        f"search order: {', '.join(str(p) for p in search_roots())} (then a download; set {ENV_VAR} to add folders)"
    )
    status = 0
    for name in names:
        spec = get_spec(name)
        print(f"{spec.name}:")
        for role, file in spec.files.items():
            found = find_file(spec, role)
            if found is None:
                print(f"  {file.name:28s} missing")
                status = 1
                continue
            try:
                _verify(spec, found.path, file)
                state = "ok"
            except DataError as error:
                state = f"INVALID: {error}"
                status = 1
            print(f"  {file.name:28s} {state:8s} {found.path} ({found.source})")
    return status


def _fetch(names: list[str]) -> int:
    status = 0
    for name in names:
        spec = get_spec(name)
        if _is_archive(spec):
            status |= _fetch_archive(spec)
            continue
        for role, file in spec.files.items():
            found = find_file(spec, role)
            try:
                if found is not None:
                    _verify(spec, found.path, file)
                    print(f"{spec.name}/{file.name}: already at {found.path}")
                    continue
                located = download_file(spec, role)
                print(f"{spec.name}/{file.name}: downloaded to {located.path}")
            except DataError as error:
                print(f"{spec.name}/{file.name}: {error}", file=sys.stderr)
                status = 1
    return status


def _fetch_archive(spec: DatasetSpec) -> int:
    """Verify what is there; download and unpack the whole archive if any member is missing."""
    found = {role: find_file(spec, role) for role in spec.files}
    try:
        if all(where is not None for where in found.values()):
            for role, where in found.items():
                _verify(spec, where.path, spec.files[role])
            print(f"{spec.name}: already at {found[next(iter(spec.files))].path.parent}")
        else:
            print(f"{spec.name}: downloaded to {download_cifar10(spec)}")
    except DataError as error:
        print(f"{spec.name}: {error}", file=sys.stderr)
        return 1
    return 0


def _report(folder: Path) -> int:
    from .report import check_report_folder, write_report_from_json

    paths = write_report_from_json(check_report_folder(folder))
    print(f"claims report written: {paths[0]} (with {', '.join(path.name for path in paths[1:])})")
    return 0


def _compare(a: Path, b: Path, rtol: float, atol: float) -> int:
    from .report import read_report
    from .report.compare import compare, describe

    comparison = compare(read_report(a), read_report(b), rtol=rtol, atol=atol)
    print(describe(comparison, str(a), str(b)), end="")
    return 1 if comparison.verdict_differs else 0


def _tolerance(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dlverify", description="dlverify's data sets and claims reports"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="find, verify and fetch data sets")
    data_commands = data.add_subparsers(dest="action", required=True)
    for action, help_text in (
        ("list", "show where each data set's files are and whether they verify"),
        ("fetch", "download data sets into the user cache (verified, atomic)"),
    ):
        sub = data_commands.add_parser(action, help=help_text)
        sub.add_argument(
            "names",
            nargs="*",
            default=sorted(DATASETS),
            metavar="NAME",
            help=f"data sets (default: all of {', '.join(sorted(DATASETS))})",
        )
    report = commands.add_parser(
        "report", help="write a claims report's HTML and Markdown again from its claims.json"
    )
    report.add_argument(
        "folder", type=Path, metavar="DIR", help="the report folder (--claims-report DIR)"
    )
    versus = commands.add_parser(
        "compare",
        help="claim tests whose verdict or measured numbers differ between two reports; "
        "exit status 1 when a verdict differs",
    )
    versus.add_argument("a", type=Path, metavar="A", help="a report folder or its claims.json")
    versus.add_argument("b", type=Path, metavar="B", help="another report folder or claims.json")
    versus.add_argument(
        "--rtol",
        type=_tolerance,
        default=0.0,
        help="relative tolerance for measured numbers (default 0: any difference is shown)",
    )
    versus.add_argument(
        "--atol", type=_tolerance, default=0.0, help="absolute tolerance (default 0)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command in ("report", "compare"):
        try:
            if args.command == "report":
                return _report(args.folder)
            return _compare(args.a, args.b, args.rtol, args.atol)
        except ReportError as error:
            print(f"python -m dlverify {args.command}: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            print(
                f"python -m dlverify {args.command}: cannot write the report ({error})",
                file=sys.stderr,
            )
            return 2
    try:
        names = [get_spec(n).name for n in args.names]
    except KeyError as error:
        parser.error(str(error.args[0]))
    try:
        environment_roots()
    except DataLocationError as error:
        parser.error(str(error))
    return _list(names) if args.action == "list" else _fetch(names)


if __name__ == "__main__":
    sys.exit(main())
