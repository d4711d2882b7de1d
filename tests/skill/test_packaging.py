"""The wheel carries SKILL.md, reference/, prompts/ and examples/, and runs from a fresh venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(dist),
            str(REPO),
        ]
    )
    (built,) = dist.glob("finetune_skill-*.whl")
    return built


def test_wheel_contains_the_bundle(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tools/_bundle/SKILL.md" in names
    assert any(n.startswith("tools/_bundle/reference/") for n in names)
    assert "tools/_bundle/prompts/demo_report.md.j2" in names
    assert "tools/_bundle/examples/train.jsonl" in names
    assert "tools/core/registry.py" in names and "skill/cli.py" in names
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


def test_wheel_installs_into_a_fresh_venv_and_runs(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)])
    # Offline: the dependencies come from the dev venv's site-packages, appended after the fresh
    # venv's own (a plain path entry, so the dev venv's editable-install hook is not run).
    fresh_site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (fresh_site / "zz_dev_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FINETUNE_BUNDLE_ROOT")}
    finetune = str(env_dir / "bin" / "finetune")
    version = _run([finetune, "--version"], cwd=work, env=env)
    assert version.stdout.startswith("finetune-skill 0.")
    listing = json.loads(_run([finetune, "tools", "--json"], cwd=work, env=env).stdout)
    assert "audit_log" in {t["name"] for t in listing}
    where = _run(
        [str(py), "-c", "import skill, tools.core.resources as r; print(skill.__file__); print(r.bundle_root())"],
        cwd=work,
        env=env,
    ).stdout.splitlines()
    assert all(line.startswith(str(env_dir)) for line in where), where
    _run([finetune, "demo", "--out", "demo-out"], cwd=work, env=env)
    assert (work / "demo-out" / "report.md").is_file()
