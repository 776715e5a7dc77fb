"""Benchmark preflight: ``python3 noxw.py -s bench`` prints the figures docs/benchmarks.md records.

Measures, each as the median of several runs of a fresh process, side by side in one run so that
ratios hold on a busy machine:
- the floor: ``python -c "import pulumi, pulumi_azure_native.servicebus, pulumi_policy"``, without
  cached bytecode (an empty PYTHONPYCACHEPREFIX and PYTHONDONTWRITEBYTECODE) and with it;
- ``python -m preflight dev``, ``prod`` and both, the README command warm
  (``python3 noxw.py -s preflight``) and the pre-commit hook on a one-line stack change, each against
  the cached floor;
- ``--base`` (two program runs, the base one in a child process) on dev, prod and 100 services,
  against the same run without ``--base``;
- generated pipelines of N consuming services (prod-like: RBAC per service), rendered in the three
  formats CI writes (markdown, SARIF, JSON), passing and with every service violating a rule, against
  the SDK floor: the same resources registered with literal inputs under Pulumi's mock runtime, no
  program logic and no policies (``--sdk-floor``), in a process as Python starts it (the floor #14
  defines) and in one set up as preflight's is (``--as-preflight``: full collections deferred, no
  interpreter teardown; preflight/process.py); with the peak RSS of the
  largest process;
- hostile stack files (an alias bomb, 30,000 tags, 200,000 nested brackets), which must end in exit
  2 quickly and in little memory.

``--quick`` is a short run (fewer runs, 10 and 100 services, no hostile input) to check a change.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
FLOOR = [sys.executable, "-c", "import pulumi, pulumi_azure_native.servicebus, pulumi_policy"]
# Runs a command and prints the peak RSS (KiB) of the largest process it waited for.
_PEAK_RSS = (
    "import resource, subprocess, sys; "
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def timed(
    command: Sequence[str], cwd: Path, codes: tuple[int, ...] = (0, 1), env: Mapping[str, str] | None = None
) -> tuple[float, int]:
    """Wall seconds and peak RSS in MiB of one run; fails loudly if the command exits otherwise."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else dict(env),
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in codes:
        raise SystemExit(f"bench: {' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, int(done.stdout.strip().splitlines()[-1]) // 1024


def median_of(
    command: Sequence[str],
    cwd: Path,
    runs: int,
    codes: tuple[int, ...] = (0, 1),
    env: Mapping[str, str] | None = None,
) -> tuple[float, int]:
    """Median wall time and the highest peak RSS over ``runs`` runs."""
    samples = [timed(command, cwd, codes, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def generated_root(tmp: Path, services: int, copies: bool = False, violating: bool = False) -> Path:
    """A copy of the repo's inputs with a ``bench`` stack of ``services`` consumers (the code linked,
    or copied when the root becomes a git repository: ``git archive`` keeps links as links). With
    ``violating``, every service's subscription breaks servicebus-subscription-max-delivery-count
    (1 is valid for Azure and the settings, below the pack's minimum of 3)."""
    root = tmp / f"pipeline-{services}{'-copy' if copies else ''}{'-violating' if violating else ''}"
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
            **({"delivery": {"maxDeliveryCount": 1}} if violating else {}),
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


def sdk_floor_program(specs_file: Path, as_preflight: bool = False) -> int:
    """The SDK floor for a program: register ``specs_file``'s resources (type, name, literal inputs) under
    Pulumi's mock runtime, importing the azure-native modules their types name, with no program logic and
    no policies. What any program registering these resources pays at least; run as a fresh process.
    ``as_preflight``: with preflight's process settings, so that the comparison is like for like."""
    if as_preflight:
        from preflight.process import defer_full_collections

        defer_full_collections()
    import pulumi
    from pulumi.runtime.stack import wait_for_rpcs

    specs: list[dict[str, Any]] = json.loads(specs_file.read_text())
    for module in sorted(
        {spec["type"].split(":")[1].split("/")[0] for spec in specs if spec["type"].startswith("azure-native:")}
    ):
        importlib.import_module(f"pulumi_azure_native.{module}")

    class Plain(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            return {}, None

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(Plain(), project="bench", stack="bench", preview=True)
    for spec in specs:
        if spec["custom"]:
            _register_plain(spec["type"], spec["name"], spec["inputs"])
        else:
            pulumi.ComponentResource(spec["type"], spec["name"])
    loop.run_until_complete(wait_for_rpcs())
    loop.close()
    if as_preflight:
        from preflight.process import end_without_teardown

        end_without_teardown(0)
    return 0


def _register_plain(type_: str, name: str, inputs: dict[str, Any]) -> None:
    """Register one resource through its own azure-native class, with literal inputs: what the SDK costs
    for it (the class's argument handling and every output property it declares), and nothing else."""
    import pulumi

    package, module, member = type_.split(":")
    if package != "azure-native":
        pulumi.CustomResource(type_, name, inputs)
        return
    cls = getattr(importlib.import_module(f"pulumi_azure_native.{module.split('/')[0]}"), member)
    cls(name, **{_snake(key): value for key, value in inputs.items()})


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key).lstrip("_")


def class_floor_command(stacks: Sequence[str]) -> list[str]:
    """The cached floor plus loading every azure-native resource class the stacks register: the SDK's
    own start-up cost for these stacks (a class's first use loads its module's input and output types;
    network's alone take about 0.6 s)."""
    from preflight.mockrun import run_program
    from settings.stack_file import read_stack_config

    types: set[str] = set()
    for stack in stacks:
        config = read_stack_config(REPO / "stacks" / f"Pulumi.{stack}.yaml", REPO / "Pulumi.yaml")
        run = run_program(REPO, config.project, stack, config.for_offline_run())
        types |= {r.type for r in run.resources if r.type.startswith("azure-native:")}
    loads = "".join(
        f"; import pulumi_azure_native.{module} as m; m.{member}"
        for module, member in sorted(tuple(t.split(":")[1:]) for t in types)
    )
    return [sys.executable, "-c", f"import pulumi, pulumi_policy{loads}"]


def resource_specs(root: Path, tmp: Path) -> tuple[Path, int]:
    """The ``bench`` stack's registrations as a ``--sdk-floor`` input file, and how many there are."""
    from preflight.mockrun import run_program
    from settings.stack_file import read_stack_config

    config = read_stack_config(root / "stacks" / "Pulumi.bench.yaml", root / "Pulumi.yaml")
    run = run_program(root, config.project, "bench", config.for_offline_run())
    specs = [
        {"type": r.type, "name": r.name, "custom": r.custom, "inputs": r.inputs}
        for r in run.resources
        if r.type != "pulumi:pulumi:Stack"
    ]
    path = tmp / f"{root.name}.resources.json"
    path.write_text(json.dumps(specs, default=str))
    return path, len(specs)


def outer_environment() -> dict[str, str]:
    """This process's environment without the nox session around it, for commands a person types
    (``python3 noxw.py ...``): they must find the system python3, not the session's."""
    env = dict(os.environ)
    venv = env.pop("VIRTUAL_ENV", None)
    if venv:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(venv))
    for key in [k for k in env if k.startswith("NOX_")]:
        env.pop(key)
    return env


def hook_root(tmp: Path) -> Path:
    """A git clone-like copy of this repository whose dev stack carries an uncommitted, staged one-line
    change, sharing this checkout's ``.venv`` and ``.nox`` (a warm clone, as a developer's is)."""
    root = tmp / "hook"
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / name, root / name)
    committed(root)
    for shared in (".venv", ".nox"):  # after the commit: .gitignore's "dir/" patterns miss symlinks
        (root / shared).symlink_to(REPO / shared)
    stack = root / "stacks" / "Pulumi.dev.yaml"
    stack.write_text(stack.read_text().replace("costCenter: cc-1234", "costCenter: cc-1235", 1))
    subprocess.run(["git", "-C", str(root), "add", "stacks/Pulumi.dev.yaml"], check=True)
    return root


class Table:
    """A Markdown table printed row by row (a long run shows progress)."""

    def __init__(self, title: str, ratio: str) -> None:
        print(f"\n### {title}\n\n| measurement | median wall (s) | {ratio} | peak RSS (MiB) |\n|---|---:|---:|---:|")

    def row(self, name: str, wall: float, against: float | None, rss: int) -> None:
        ratio = f"{wall / against:.2f}x" if against else ""
        print(f"| {name} | {wall:.2f} | {ratio} | {rss} |", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print Markdown tables of the figures."""
    cli = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n")[0])
    cli.add_argument("--runs", type=int, default=5, help="runs per median (default 5; 3 with --quick)")
    cli.add_argument("--sizes", type=int, nargs="+", help="consuming services (default 10 50 100 200 500)")
    cli.add_argument("--quick", action="store_true", help="3 runs, 10 and 100 services, no hostile input")
    cli.add_argument("--sdk-floor", type=Path, metavar="SPECS", help=argparse.SUPPRESS)
    cli.add_argument("--as-preflight", action="store_true", help=argparse.SUPPRESS)
    args = cli.parse_args(argv)
    if args.sdk_floor:
        return sdk_floor_program(args.sdk_floor, args.as_preflight)
    runs: int = 3 if args.quick and args.runs == 5 else args.runs
    sizes: list[int] = args.sizes or ([10, 100] if args.quick else [10, 50, 100, 200, 500])
    preflight = [sys.executable, "-m", "preflight"]

    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp_name:
        tmp = Path(tmp_name)
        # Without a cache: compiled from source every time (nothing read from, nothing written to, an
        # empty prefix). With: whatever this virtualenv's __pycache__ holds, warmed by one run first.
        uncached_env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(tmp / "no-pyc")}
        warm_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        timed(FLOOR, REPO, env=warm_env)
        floor_uncached, rss_uncached = median_of(FLOOR, REPO, runs, env=uncached_env)
        floor, floor_rss = median_of(FLOOR, REPO, runs, env=warm_env)
        table = Table("Start-up and the shipped stacks", "vs cached floor")
        table.row("floor, no cached bytecode", floor_uncached, floor, rss_uncached)
        table.row("floor, cached bytecode", floor, floor, floor_rss)
        single: dict[str, float] = {}
        for stacks in (["dev"], ["prod"], ["dev", "prod"]):
            class_floor, class_rss = median_of(class_floor_command(stacks), REPO, runs, env=warm_env)
            table.row(
                f"floor + the classes {' '.join(stacks)} registers (loaded, not used)", class_floor, floor, class_rss
            )
            wall, rss = median_of([*preflight, *stacks], REPO, runs, env=warm_env)
            single[" ".join(stacks)] = wall
            table.row(f"preflight {' '.join(stacks)} (vs that floor: {wall / class_floor:.2f}x)", wall, floor, rss)
        outer = outer_environment()
        noxw = [shutil.which("python3", path=outer["PATH"]) or "python3", "noxw.py", "-s", "preflight"]
        timed(noxw, REPO, env=outer)  # warm: the session's virtualenv exists and holds its bytecode
        wall, rss = median_of(noxw, REPO, runs, env=outer)
        table.row("README command warm: `python3 noxw.py -s preflight` (both stacks)", wall, floor, rss)
        hook = hook_root(tmp)
        hook_command = [sys.executable, "-m", "pre_commit", "run", "preflight"]
        timed(hook_command, hook, env=outer)  # warm: the copy's own sources compile once
        wall, rss = median_of(hook_command, hook, runs, env=outer)
        table.row("pre-commit hook `preflight`, one-line change to stacks/Pulumi.dev.yaml", wall, floor, rss)

        table = Table("`--base` (the base run in a child process)", "vs the same run without --base")
        for stack in ("dev", "prod"):
            wall, rss = median_of([*preflight, stack, "--base", "HEAD"], REPO, runs, env=warm_env)
            table.row(f"preflight {stack} --base HEAD", wall, single[stack], rss)
        root = committed(generated_root(tmp, 100, copies=True))
        plain, _ = median_of([*preflight, "bench", "--root", str(root)], REPO, runs, env=warm_env)
        wall, rss = median_of([*preflight, "bench", "--root", str(root), "--base", "HEAD"], REPO, runs, env=warm_env)
        table.row("preflight, 100 consuming services, --base HEAD", wall, plain, rss)

        table = Table(
            "Scale: N consuming services, markdown + SARIF + JSON reports", "vs SDK floor (violating: vs passing)"
        )
        times: dict[int, float] = {}
        for size in sizes:
            size_runs = runs if size <= 100 else max(1, runs // 2)
            passing = generated_root(tmp, size)
            specs, count = resource_specs(passing, tmp)
            floor_command = [*preflight[:-1], "preflight.bench", "--sdk-floor", str(specs)]
            sdk, sdk_rss = median_of(floor_command, REPO, size_runs, env=warm_env)
            table.row(f"SDK floor, {size} services ({count} resources, {size_runs} runs)", sdk, None, sdk_rss)
            alike, alike_rss = median_of([*floor_command, "--as-preflight"], REPO, size_runs, env=warm_env)
            table.row(f"SDK floor with preflight's process settings, {size} services", alike, None, alike_rss)
            # The reports CI writes (.github/workflows/checks.yml): markdown, SARIF and JSON files.
            reports = ["--format", "markdown", "--output", str(tmp / f"{size}.md")]
            reports += ["--format", "sarif", "--output", str(tmp / f"{size}.sarif")]
            reports += ["--format", "json", "--output", str(tmp / f"{size}.json")]
            wall, rss = median_of(
                [*preflight, "bench", "--root", str(passing), *reports], REPO, size_runs, env=warm_env
            )
            times[size] = wall
            markdown_bytes = len((tmp / f"{size}.md").read_bytes())
            table.row(
                f"preflight, {size} services, passing (markdown {markdown_bytes:,} bytes; "
                f"{wall / alike:.2f}x the floor with its settings)",
                wall,
                sdk,
                rss,
            )
            violating = generated_root(tmp, size, violating=True)
            command = [*preflight, "bench", "--root", str(violating), *reports]
            bad, bad_rss = median_of(command, REPO, size_runs, codes=(1,), env=warm_env)
            table.row(f"preflight, {size} services, every service violating", bad, wall, bad_rss)

        if not args.quick:
            table = Table("Hostile stack files (exit 2)", "vs cached floor")
            for name, lines in HOSTILE.items():
                root = hostile_root(tmp, name, lines)
                wall, rss = median_of([*preflight, "dev", "--root", str(root)], REPO, runs, codes=(2,), env=warm_env)
                table.row(name, wall, floor, rss)
    if 50 in times and 500 in times:
        print(f"\nt(500)/t(50) = {times[500] / times[50]:.1f} (10.0 would be linear in services)")
    print(f"\nmachine: {sys.platform}, Python {sys.version.split()[0]}, {_cpus()} CPUs; {runs} runs per median")
    return 0


def _cpus() -> int:
    return os.cpu_count() or 0


if __name__ == "__main__":
    raise SystemExit(main())
