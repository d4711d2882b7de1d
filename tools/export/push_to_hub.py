"""push_to_hub: upload an export folder (or a run's adapter) to a Hugging Face Hub repository, with huggingface_hub."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tools.core.errors import ToolError
from tools.core.registry import tool
from tools.core.workspace import Workspace, current
from tools.export.models import ExportedFile, PushToHubRequest, PushToHubResult
from tools.export.source import open_run

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
LEFT_OUT = {
    "parity.jsonl": "holds golden prompts from your eval set and both models' answers",
    "convert.log": "llama.cpp's build log (local paths)",
}


def _folder(ws: Workspace, req: PushToHubRequest) -> Path:
    if req.folder:
        return ws.input_dir(req.folder, what="folder to upload")
    if req.run_id:
        return open_run(ws, req.run_id).adapter
    raise ToolError("no_input", "push_to_hub needs a folder or a run_id", "e.g. folder='exports/<run>/merged-fp32'")


def _collect(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(path in repo, file) for every file to upload; the files left out, with why."""
    keep: list[tuple[str, Path]] = []
    skipped: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            skipped.append(f"{rel}: hidden")
        elif path.is_symlink():
            skipped.append(f"{rel}: a symbolic link")
        elif rel in LEFT_OUT:
            skipped.append(f"{rel}: {LEFT_OUT[rel]}")
        else:
            keep.append((rel, path))
    return keep, skipped


def _token() -> str:
    from huggingface_hub import get_token

    token = os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise ToolError(
            "missing_api_key",
            "no Hugging Face token: HF_TOKEN is not set and no token is stored",
            "create a write token at https://huggingface.co/settings/tokens, then `hf auth login` or set HF_TOKEN",
        )
    return token


def _upload(req: PushToHubRequest, endpoint: str, files: list[tuple[str, Path]], message: str) -> tuple[str, str]:
    from huggingface_hub import CommitOperationAdd, HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    if constants.is_offline_mode():
        raise ToolError(
            "hub_offline",
            "HF_HUB_OFFLINE is set: huggingface_hub refuses to reach the Hub",
            "unset HF_HUB_OFFLINE for the upload",
        )
    api = HfApi(endpoint=endpoint, token=_token())
    try:
        url = api.create_repo(req.repo_id, private=req.private, exist_ok=True)
        ops = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(path)) for rel, path in files]
        info = api.create_commit(req.repo_id, operations=ops, commit_message=message)
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "no response"
        raise ToolError(
            "hub_failed",
            f"the Hub at {endpoint} refused the upload to {req.repo_id} (HTTP {status}): "
            + str(exc).splitlines()[0][:200],
            "check the token's write access to the namespace and the repository name",
        ) from None
    except Exception as exc:  # noqa: BLE001 - the HTTP client's connection errors are not OSErrors
        raise ToolError(
            "hub_unreachable",
            f"cannot reach {endpoint} ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})",
            "check the network and HF_ENDPOINT",
        ) from None
    return str(url), str(info.commit_url)


@tool(effect="spend", stage="export", duration="minutes")
def push_to_hub(req: PushToHubRequest) -> PushToHubResult:
    """Upload an export folder (export_model's output) or a run's adapter to a Hugging Face Hub repository (created
    private by default), through huggingface_hub. It sends the weights and the model card to a third party: without
    confirm=true it only lists what it would upload, where, and how much; with it, it creates the repository if
    needed and commits the files. parity.jsonl (golden prompts from the eval set), build logs and hidden files are
    left out. Needs a write token in HF_TOKEN (or `hf auth login`)."""
    ws = current()
    if not REPO_ID.match(req.repo_id):
        raise ToolError(
            "bad_repo_id", f"{req.repo_id!r} is not a Hub repository id", "give owner/name, e.g. my-org/support-bot"
        )
    folder = _folder(ws, req)
    files, skipped = _collect(folder)
    if not files:
        raise ToolError("empty_input", f"{ws.relative(folder)} holds no file to upload", "export first (export_model)")
    endpoint = (req.endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    listed = [ExportedFile(path=rel, bytes=path.stat().st_size) for rel, path in files]
    total = sum(f.bytes for f in listed)
    where = f"{endpoint}/{req.repo_id} ({'private' if req.private else 'public'})"
    common = dict(repo_id=req.repo_id, endpoint=endpoint, folder=ws.relative(folder), files=listed,
                  skipped=skipped, total_bytes=total)  # fmt: skip
    if not req.confirm:
        return PushToHubResult(
            uploaded=False,
            repo_url=None,
            commit_url=None,
            message=f"would upload {len(listed)} files ({total / 1e6:.1f} MB) to {where}: this sends them to a third "
            "party; call again with confirm=true after the person agrees",
            **common,
        )
    message = req.commit_message or f"finetune-skill export: {ws.relative(folder)}"
    repo_url, commit_url = _upload(req, endpoint, files, message)
    return PushToHubResult(
        uploaded=True,
        repo_url=repo_url,
        commit_url=commit_url,
        message=f"uploaded {len(listed)} files ({total / 1e6:.1f} MB) to {where}: {commit_url}",
        **common,
    )


__all__ = ["PushToHubRequest", "PushToHubResult", "push_to_hub"]
