"""Run the benchmarks: ``python -m bench [NAME ...] [--quick]``.

Exits non-zero only when a benchmark crashes; a missed goal is printed, not failed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback

from bench import BENCHMARKS, setup_django


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run the back-office benchmarks.")
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})"
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test, not figures to quote")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    selected = [name for name in BENCHMARKS if name in args.names] if args.names else list(BENCHMARKS)

    setup_django()

    outcomes: list[tuple[str, str]] = []
    crashed = False
    for name in selected:
        print(f"\n=== bench {name}{' (quick)' if args.quick else ''} ===", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            print(module.TITLE, flush=True)
            met = module.run(quick=args.quick)
            if met is not None and not isinstance(met, bool):
                raise TypeError(f"bench.{name}.run() returned {met!r}: a bool (goal met) or None (no goal) expected")
        except KeyboardInterrupt:
            print(f"--- {name}: interrupted", flush=True)
            return 130
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            outcomes.append((name, "CRASHED"))
            crashed = True
        else:
            outcomes.append(
                (name, "reference figures (no goal)" if met is None else "goal MET" if met else "goal NOT MET")
            )
        print(f"--- {name}: finished in {time.monotonic() - started:.1f} s", flush=True)

    print("\n=== summary ===")
    for name, outcome in outcomes:
        print(f"{name}: {outcome}")
    sys.stdout.flush()
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
