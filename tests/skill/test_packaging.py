"""The wheel carries SKILL.md, reference/, prompts/ and examples/, and runs from a fresh venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


WHEELHOUSE = REPO / ".venv" / "wheelhouse"


@pytest.fixture(scope="module")
def base_install(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A fresh venv with the wheel and its declared base dependencies only (no extras), installed offline
    from the wheelhouse `make test` fills with exactly what pyproject.toml declares."""
    if not any(WHEELHOUSE.glob("*.whl")):
        pytest.fail(f"{WHEELHOUSE} is empty: run the suite through `make test`, which downloads the base dependencies")
    env_dir = tmp_path_factory.mktemp("base") / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(WHEELHOUSE),
            str(wheel),
        ]
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FINETUNE_BUNDLE_ROOT")}
    env["FINETUNE_NO_FORK"] = "1"
    return env_dir, env


def test_the_base_install_lists_and_runs_tools_with_only_its_declared_dependencies(
    base_install: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    env_dir, env = base_install
    py, finetune = str(env_dir / "bin" / "python"), str(env_dir / "bin" / "finetune")
    for module in ("torch", "presidio_analyzer", "mcp", "matplotlib", "pyarrow"):
        probe = subprocess.run([py, "-c", f"import {module}"], capture_output=True, text=True, env=env)
        assert probe.returncode != 0, f"{module} is not a base dependency but imports in the base venv"
    work = tmp_path / "elsewhere"
    work.mkdir()
    version = _run([finetune, "--version"], cwd=work, env=env)
    assert version.stdout.startswith("finetune-skill 0.")
    listing = json.loads(_run([finetune, "tools", "--json"], cwd=work, env=env).stdout)
    assert {"audit_log", "launch_lora", "scan_pii", "run_eval", "validate_jsonl"} <= {t["name"] for t in listing}
    where = _run(
        [py, "-c", "import skill, tools.core.resources as r; print(skill.__file__); print(r.bundle_root())"],
        cwd=work,
        env=env,
    ).stdout.splitlines()
    assert all(line.startswith(str(env_dir)) for line in where), where
    (work / "train.jsonl").write_bytes((REPO / "examples" / "train.jsonl").read_bytes())
    validated = subprocess.run(
        [finetune, "validate", "train.jsonl", "--json"], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert validated.returncode in (0, 1), validated.stderr
    assert json.loads(validated.stdout)["files"][0]["examples"] > 0


@pytest.mark.parametrize(
    ("extra", "command"),
    [
        ("train", ["train", "train.jsonl", "--confirm"]),
        ("pii", ["pii", "train.jsonl"]),
        ("mcp", ["mcp"]),
        ("plot", ["diagnose", "trainer_state.json", "--plot", "loss.png"]),
    ],
)
def test_each_extra_names_itself_instead_of_a_traceback(
    base_install: tuple[Path, dict[str, str]], tmp_path: Path, extra: str, command: list[str]
) -> None:
    env_dir, env = base_install
    work = tmp_path / "w"
    work.mkdir()
    (work / "train.jsonl").write_bytes((REPO / "examples" / "train.jsonl").read_bytes())
    state = {"log_history": [{"step": s, "loss": 2.0 / s} for s in range(1, 30)]}
    (work / "trainer_state.json").write_text(json.dumps(state))
    proc = subprocess.run(
        [str(env_dir / "bin" / "finetune"), *command], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"finetune-skill[{extra}]" in " ".join((proc.stderr + proc.stdout).split()), proc.stderr


def test_the_extras_map_matches_pyproject() -> None:
    import tomllib

    from tools.core.extras import EXTRA_OF_MODULE

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {extra: " ".join(reqs).lower().replace("-", "_") for extra, reqs in declared.items()}
    for module, extra in EXTRA_OF_MODULE.items():
        assert extra in declared, f"{module}: no extra named {extra}"
        if module in ("mcp_types", "presidio_anonymizer", "spacy", "huggingface_hub"):
            continue  # brought in by another requirement of the same extra
        if module in ("trl", "bitsandbytes"):
            continue  # listed before the engine that needs them lands; see the train extra
        assert module in names[extra], f"{module} is mapped to [{extra}] but pyproject does not list it there"
