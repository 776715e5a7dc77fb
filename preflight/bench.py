"""Benchmark preflight: ``python3 noxw.py -s bench`` prints the figures docs/benchmarks.md records.

Measures, each as the median of several runs of a fresh process:
- the floor: ``python -c "import pulumi, pulumi_azure_native.servicebus, pulumi_policy"``;
- ``python -m preflight dev`` and ``prod``, and their ratio to the floor;
- generated pipelines of N consuming services (prod-like: RBAC per service), with the peak RSS of
  the largest process (preflight itself or the policy pack it starts), and t(500)/t(50);
- ``--base`` (two program runs, the base one in a child process) on dev, prod and 100 services;
- hostile stack files (an alias bomb, 30,000 tags, 200,000 nested brackets), which must end in exit
  2 quickly and in little memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FLOOR = [sys.executable, "-c", "import pulumi, pulumi_azure_native.servicebus, pulumi_policy"]
# Runs a command and prints the peak RSS (KiB) of the largest process it waited for.
_PEAK_RSS = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def timed(command: Sequence[str], cwd: Path, codes: tuple[int, ...] = (0, 1)) -> tuple[float, int]:
    """Wall seconds and peak RSS in MiB of one run; fails loudly if the command exits otherwise."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *command], cwd=cwd, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in codes:
        raise SystemExit(f"bench: {' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, int(done.stdout.strip().splitlines()[-1]) // 1024


def median_of(command: Sequence[str], cwd: Path, runs: int, codes: tuple[int, ...] = (0, 1)) -> tuple[float, int]:
    """Median wall time and the highest peak RSS over ``runs`` runs."""
    samples = [timed(command, cwd, codes) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def generated_root(tmp: Path, services: int, copies: bool = False) -> Path:
    """A copy of the repo's inputs with a ``bench`` stack of ``services`` consumers (the code linked,
    or copied when the root becomes a git repository: ``git archive`` keeps links as links)."""
    root = tmp / f"pipeline-{services}{'-copy' if copies else ''}"
    root.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, root / name)
    for name in ("components", "settings"):
        if copies:
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (root / name).symlink_to(REPO / name)
    shutil.copytree(REPO / "policies", root / "policies", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    config = json.loads((REPO / "policies" / "config" / "prod.json").read_text())
    for entry in config.values():
        if "environment" in entry:
            entry["environment"] = "bench"
    (root / "policies" / "config" / "bench.json").write_text(json.dumps(config, indent=2))
    stack = yaml.safe_load((REPO / "stacks" / "Pulumi.prod.yaml").read_text())
    stack["config"]["ml-messaging:environment"] = "bench"
    stack["config"]["ml-messaging:services"] = [
        {
            "name": f"svc-{i:04d}",
            "consumes": ["data.ingested"],
            "publishes": [f"evt.{i}"],
            "principalId": f"00000000-0000-4000-8000-{i:012d}",
        }
        for i in range(services)
    ]
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.bench.yaml").write_text(yaml.safe_dump(stack, sort_keys=False))
    return root


def committed(root: Path) -> Path:
    """``root`` as a git repository whose HEAD is its current content (a base for ``--base HEAD``)."""
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run([*git, *args], check=True)
    return root


HOSTILE = {
    "alias bomb (1 KB)": "".join(
        f"  ml-messaging:a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10) if i else 'x'}]\n" for i in range(9)
    ),
    "30,000 tags (400 KB)": "  ml-messaging:tags:\n" + "".join(f"    t{i}: v\n" for i in range(30_000)),
    "200,000 nested brackets": "  ml-messaging:deep: " + "[" * 200_000 + "]" * 200_000 + "\n",
}


def hostile_root(tmp: Path, name: str, lines: str) -> Path:
    """A repository copy whose dev stack file ends with ``lines``."""
    root = tmp / f"hostile-{abs(hash(name))}"
    root.mkdir()
    for file in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / file, root / file)
    for package in ("components", "settings"):
        (root / package).symlink_to(REPO / package)
    shutil.copytree(REPO / "policies", root / "policies", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    (root / "stacks").mkdir()
    (root / "stacks" / "Pulumi.dev.yaml").write_text((REPO / "stacks" / "Pulumi.dev.yaml").read_text() + lines)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print a Markdown table of the figures."""
    cli = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    cli.add_argument("--runs", type=int, default=5, help="runs per median (default 5)")
    cli.add_argument("--sizes", type=int, nargs="+", default=[10, 50, 100, 500], help="consuming services")
    args = cli.parse_args(argv)
    preflight = [sys.executable, "-m", "preflight"]

    floor, floor_rss = median_of(FLOOR, REPO, args.runs)
    print("| measurement | median wall (s) | vs floor | peak RSS (MiB) |\n|---|---:|---:|---:|")
    print(f"| floor: import pulumi, azure-native servicebus, pulumi_policy | {floor:.2f} | 1.0x | {floor_rss} |")
    for stack in ("dev", "prod"):
        wall, rss = median_of([*preflight, stack], REPO, args.runs)
        print(f"| preflight {stack} | {wall:.2f} | {wall / floor:.1f}x | {rss} |")
    times: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp:
        for size in args.sizes:
            root = generated_root(Path(tmp), size)
            runs = args.runs if size <= 100 else max(1, args.runs // 2)
            wall, rss = median_of([*preflight, "bench", "--root", str(root)], REPO, runs)
            times[size] = wall
            print(f"| preflight, {size} consuming services ({runs} runs) | {wall:.2f} | {wall / floor:.1f}x | {rss} |")
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp:
        for stack in ("dev", "prod"):
            wall, rss = median_of([*preflight, stack, "--base", "HEAD"], REPO, args.runs)
            print(f"| preflight {stack} --base HEAD | {wall:.2f} | {wall / floor:.1f}x | {rss} |")
        root = committed(generated_root(Path(tmp), 100, copies=True))
        wall, rss = median_of([*preflight, "bench", "--root", str(root), "--base", "HEAD"], REPO, args.runs)
        print(f"| preflight, 100 consuming services, --base HEAD | {wall:.2f} | {wall / floor:.1f}x | {rss} |")
        for name, lines in HOSTILE.items():
            root = hostile_root(Path(tmp), name, lines)
            wall, rss = median_of([*preflight, "dev", "--root", str(root)], REPO, args.runs, codes=(2,))
            print(f"| hostile stack file, exit 2: {name} | {wall:.2f} | {wall / floor:.1f}x | {rss} |")
    if 50 in times and 500 in times:
        print(f"\nt(500)/t(50) = {times[500] / times[50]:.1f} (10.0 would be linear in services)")
    print(f"\nmachine: {sys.platform}, Python {sys.version.split()[0]}, {_cpus()} CPUs")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
