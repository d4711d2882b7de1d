"""A local stand-in for the Hugging Face Hub HTTP API: enough for ``HfApi(endpoint=...).create_repo`` and
``create_commit`` / ``upload_folder`` of huggingface_hub 2.x, in memory, standard library only.

Routes (as huggingface_hub builds them): ``POST /api/repos/create``; ``POST /api/validate-yaml``;
``POST /api/models/{ns}/{name}/preupload/{rev}`` (answers ``regular`` unless a path matches ``lfs_patterns``);
``POST /api/models/{ns}/{name}/commit/{rev}`` (NDJSON: header, file, lfsFile, deletedFile); the Git LFS batch
``POST /{ns}/{name}.git/info/lfs/objects/batch`` with ``PUT /_lfs/{oid}`` and ``POST /_lfs/{oid}/verify``;
``GET /api/models/{ns}/{name}[/revision/{rev}]``. With hf_xet installed a file answered ``lfs`` goes through the
Xet protocol, which this stub does not speak: tests that want the LFS path set HF_HUB_DISABLE_XET on the client.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[dict[str, Any]] = field(default_factory=list)

    @property
    def head(self) -> str:
        return self.commits[-1]["oid"] if self.commits else "0" * 40


@dataclass
class HubState:
    lfs_patterns: tuple[str, ...] = ()
    repos: dict[str, Repo] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


_REPO = re.compile(r"/api/models/([^/]+/[^/]+)(?:/(preupload|commit|revision)/([^/]+))?")
_BATCH = re.compile(r"/([^/]+/[^/]+)\.git/info/lfs/objects/batch")
_LFS = re.compile(r"/_lfs/([0-9a-f]{64})(/verify)?")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return b""
        data = b""
        while size := int(self.rfile.readline().strip() or b"0", 16):
            data += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return data

    def send(self, code: int, obj: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        self.server.state.requests.append((method, path, dict(self.headers)))
        body = self._body() if method in ("POST", "PUT") else b""
        try:
            routes(self, method, path, body)
        except Exception as exc:  # noqa: BLE001 - a stub reports, it does not die
            self.send(500, {"error": f"stub error: {type(exc).__name__}: {exc}"})

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")


def routes(h: _Handler, method: str, path: str, body: bytes) -> None:
    st = h.server.state
    if method == "POST" and path == "/api/validate-yaml":
        return h.send(200, {"errors": [], "warnings": []})
    if method == "POST" and path == "/api/repos/create":
        return _create(h, json.loads(body or b"{}"))
    if method == "POST" and (m := _BATCH.fullmatch(path)):
        return _batch(h, json.loads(body))
    if m := _LFS.fullmatch(path):
        return _lfs(h, method, m.group(1), bool(m.group(2)), body)
    if m := _REPO.fullmatch(path):
        repo = st.repos.get(m.group(1))
        if repo is None:
            return h.send(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
        if m.group(2) == "preupload":
            return _preupload(h, repo, json.loads(body))
        if m.group(2) == "commit":
            return _commit(h, m.group(1), repo, body)
        siblings = [{"rfilename": k} for k in sorted(repo.files)]
        return h.send(200, {"id": m.group(1), "sha": repo.head, "private": repo.private, "siblings": siblings})
    return h.send(404, {"error": f"hub stub: no route for {method} {path}"})


def _create(h: _Handler, p: dict[str, Any]) -> None:
    repo_id = f"{p.get('organization') or 'stub-user'}/{p['name']}"
    url = f"{h.base}/{repo_id}"
    with h.server.state.lock:
        if repo_id in h.server.state.repos:
            return h.send(409, {"error": "You already created this model repo", "url": url})
        private = p.get("visibility") == "private" or p.get("private") is True  # 2.x sends visibility
        h.server.state.repos[repo_id] = Repo(private=private)
    return h.send(200, {"url": url, "name": repo_id})


def _preupload(h: _Handler, repo: Repo, p: dict[str, Any]) -> None:
    files = []
    for f in p["files"]:
        lfs = any(fnmatch.fnmatch(f["path"], pat) for pat in h.server.state.lfs_patterns)
        old = repo.files.get(f["path"])
        oid = None if old is None else (hashlib.sha256(old).hexdigest() if lfs else git_blob_oid(old))
        files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
    h.send(200, {"files": files, "commitOid": repo.head})


def _batch(h: _Handler, p: dict[str, Any]) -> None:
    objects = []
    for o in p.get("objects", []):
        entry: dict[str, Any] = {"oid": o["oid"], "size": o["size"]}
        if o["oid"] not in h.server.state.lfs:
            href = f"{h.base}/_lfs/{o['oid']}"
            entry["actions"] = {"upload": {"href": href}, "verify": {"href": href + "/verify"}}
        objects.append(entry)
    h.send(200, {"transfer": "basic", "objects": objects})


def _lfs(h: _Handler, method: str, oid: str, verify: bool, body: bytes) -> None:
    st = h.server.state
    if method == "PUT" and not verify:
        if hashlib.sha256(body).hexdigest() != oid:
            return h.send(400, {"error": "sha256 mismatch"})
        with st.lock:
            st.lfs[oid] = body
        return h.send(200, {})
    size = json.loads(body).get("size")
    ok = oid in st.lfs and len(st.lfs[oid]) == size
    return h.send(200, {}) if ok else h.send(404, {"error": "object not uploaded"})


def _commit(h: _Handler, repo_id: str, repo: Repo, body: bytes) -> None:
    lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
    header = next((x["value"] for x in lines if x["key"] == "header"), {})
    changes: dict[str, bytes | None] = {}
    for x in lines:
        key, value = x["key"], x["value"]
        if key == "file":
            changes[value["path"]] = base64.b64decode(value["content"])
        elif key == "lfsFile":
            if value["oid"] not in h.server.state.lfs:
                return h.send(422, {"error": f"LFS object for {value['path']} was never uploaded"})
            changes[value["path"]] = h.server.state.lfs[value["oid"]]
        elif key == "deletedFile":
            changes[value["path"]] = None
    with h.server.state.lock:
        for path, data in changes.items():
            if data is None:
                repo.files.pop(path, None)
            else:
                repo.files[path] = data
        oid = hashlib.sha1(json.dumps([repo.head, header, sorted(changes)]).encode()).hexdigest()
        repo.commits.append({"oid": oid, "summary": header.get("summary", ""), "paths": sorted(changes)})
    h.send(200, {"commitUrl": f"{h.base}/{repo_id}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None})


class HubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, lfs_patterns: tuple[str, ...] = ()) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = HubState(lfs_patterns)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> HubServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


__all__ = ["HubServer", "git_blob_oid"]
