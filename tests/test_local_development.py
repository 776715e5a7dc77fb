"""The README's Local development commands work as written, up to starting the emulator."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from preflight.emulator import schema
from tests.support import REPO, template_copy

README = (REPO / "README.md").read_text()
SECTION = README.split("## Local development\n", 1)[1].split("\n## ", 1)[0]
FIRST_BLOCK = SECTION.split("```sh\n", 1)[1].split("```", 1)[0]
PREFLIGHT = "python3 noxw.py -s preflight -- "


def commands() -> list[str]:
    return [line.split("  #", 1)[0].strip() for line in FIRST_BLOCK.splitlines() if line.strip()]


def test_each_preflight_command_runs(tmp_path: Path) -> None:
    # In a copy with the template's stacks: the README names dev, training and model.trained, which a
    # user's first edit to stacks/ may rename.
    root = template_copy(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root)}
    ran = 0
    for command in commands():
        if not command.startswith(PREFLIGHT):
            continue
        words = shlex.split(command.removeprefix(PREFLIGHT))
        target = None
        if ">" in words:  # a redirect into a file: capture stdout instead
            target, words = words[words.index(">") + 1], words[: words.index(">")]
        if "--output" in words:  # written into a scratch copy, not the work tree
            words[words.index("--output") + 1] = str(tmp_path / "Config.json")
        # The session runs `python -m preflight` with these arguments (noxfile.py, preflight).
        result = subprocess.run(
            [sys.executable, "-m", "preflight", *words], cwd=root, env=env, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, (command, result.stderr)
        if target is not None:
            assert result.stdout.startswith("SERVICEBUS_CONTRACT_VERSION=1\n"), command
        ran += 1
    assert ran == 4
    jsonschema.Draft7Validator(schema()).validate(json.loads((tmp_path / "Config.json").read_text()))


def test_compose_mounts_the_file_the_readme_writes() -> None:
    emulator_output = next(c for c in commands() if " emulator " in c).split("--output ", 1)[1].strip()
    compose_command = next(c for c in commands() if "docker compose" in c)
    compose_file = REPO / compose_command.split(" -f ", 1)[1].split()[0]
    compose = yaml.safe_load(compose_file.read_text())
    (volume,) = compose["services"]["emulator"]["volumes"]
    source, _, rest = volume.partition("}:")
    target = rest.removesuffix(":ro")
    assert source == "${CONFIG_PATH:-./Config.json"
    # Compose resolves ./ against the compose file's folder.
    assert (compose_file.parent / "Config.json").resolve() == (REPO / emulator_output).resolve()
    assert target == "/ServiceBus_Emulator/ConfigFiles/Config.json"
    assert compose["services"]["emulator"]["environment"]["SQL_SERVER"] == "sqledge"
    assert "sqledge" in compose["services"]
