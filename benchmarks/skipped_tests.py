"""List the tests a pytest run skipped (from its --junitxml report) and fail on an unexpected one.

    python benchmarks/skipped_tests.py gpu_tests.xml --allowed "flash-attn is not installed"

A skip is expected when its reason matches the --allowed regular expression (empty: none is).
Exit status 1 when a skip is unexpected or the report holds no test at all, else 0. Used by
benchmarks/gpu_check.sh, where a silent skip would pass for evidence.
"""
from __future__ import annotations

import argparse
import re
import sys
import xml.etree.ElementTree as ET


def skipped(report: str) -> tuple[int, list[tuple[str, str]]]:
    """(number of test cases, [(test id, skip reason)]) of a junit XML report."""
    cases = ET.parse(report).getroot().iter("testcase")
    count, out = 0, []
    for case in cases:
        count += 1
        skip = case.find("skipped")
        if skip is not None:
            out.append((f"{case.get('classname')}::{case.get('name')}", skip.get("message", "")))
    return count, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="pytest --junitxml file")
    parser.add_argument("--allowed", default="", help="regular expression of the skip reasons that are expected")
    args = parser.parse_args(argv)
    count, skips = skipped(args.report)
    allowed = re.compile(args.allowed) if args.allowed else None
    unexpected = [(test, why) for test, why in skips if not (allowed and allowed.search(why))]
    print(f"skipped {len(skips)} of {count} tests" + (":" if skips else ""))
    for test, why in skips:
        print(f"  {'UNEXPECTED ' if (test, why) in unexpected else ''}{test}: {why}")
    if count == 0:
        print("no test ran")
        return 1
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
