"""Run every benchmark section and print its numbers: `make bench` (ARGS=section names to pick some)."""

from __future__ import annotations

import sys
from importlib import import_module

# One module per area; each has `run() -> None` that prints its lines.
SECTIONS = ("startup", "gpu", "mlflow", "tfserving", "attribution", "robustness")


def main(argv: list[str]) -> int:
    chosen = argv or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(
            f"bench: unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}", file=sys.stderr
        )
        return 2
    for name in chosen:
        print(f"== {name}", flush=True)
        import_module(f"benchmarks.{name}").run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
