"""``monocap bench``: benchmarks, one sub-subcommand each (``monocap bench lift``, ...).

A benchmark is a module with ``NAME``, ``HELP``, ``EXAMPLES``,
``add_arguments(parser)`` for its own options and ``run(args) -> dict``,
which prints its tables and returns its figures. This module gives every
benchmark the shared options (``--data-root``, ``--json``, ``-q``) and writes
the JSON. To add one, write the module (say ``monocap/eval/bench_speed.py``)
and list it in `BENCHMARKS`.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..eval import bench_batch, bench_fit, bench_hyp, bench_lift, bench_speed

BENCHMARKS = (bench_lift, bench_speed, bench_hyp, bench_fit, bench_batch)


def add_parser(sub, parents):
    p = sub.add_parser("bench", help="accuracy and speed benchmarks on real data",
                       description="Accuracy and speed benchmarks on the real data in shared/data.")
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--data-root", type=Path, default=Path("../shared/data"),
                        help="shared data folder (default: %(default)s)")
    shared.add_argument("--json", type=Path, metavar="OUT", help="also write every figure to this JSON file")
    benches = p.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for module in BENCHMARKS:
        b = benches.add_parser(module.NAME, parents=[*parents, shared], help=module.HELP, epilog=module.EXAMPLES,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(b)
        b.set_defaults(func=run, bench=module)


def run(args) -> int:
    figures = args.bench.run(args)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0
