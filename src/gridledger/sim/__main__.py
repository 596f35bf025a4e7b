"""``python -m gridledger.sim [--seed N] [--day-start S]``: print a generated day's summary."""

from __future__ import annotations

import argparse
import time

from gridledger.sim.day import generate_day
from gridledger.sim.summary import format_summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridledger.sim", description=__doc__)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--day-start", type=int, default=1_782_864_000, help="UTC midnight, s")
    parser.add_argument("--prosumers", type=int, default=36)
    parser.add_argument("--consumers", type=int, default=8)
    args = parser.parse_args(argv)
    started = time.perf_counter_ns()
    day = generate_day(
        args.seed,
        day_start_s=args.day_start,
        prosumers=args.prosumers,
        consumers=args.consumers,
    )
    elapsed_ms = (time.perf_counter_ns() - started) // 1_000_000
    print(format_summary(day.summary()))
    print(f"digest {day.digest()}; generated in {elapsed_ms} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
