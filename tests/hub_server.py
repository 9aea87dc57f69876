#!/usr/bin/env python3
"""A small Hugging Face Hub-compatible HTTP server for offline tests (standard library only).

    python tests/hub_server.py --port 0 --root DIR [--token T] [--user NAME] [--quiet] [--exit-with-stdin]

The first stdout line is the URL it listens on (``http://127.0.0.1:PORT``); point ``HF_ENDPOINT`` at it
and set ``HF_HUB_DISABLE_XET=1`` (huggingface_hub >= 1.0 otherwise uploads only through Xet, which this
server does not speak). Written from the requests the unmodified ``huggingface_hub`` client makes
(hf_api.py, _commit_api.py, lfs.py, file_download.py, utils/_http.py of 2.4.0):

* ``POST /api/repos/create``, ``DELETE /api/repos/delete``, ``GET /api/whoami-v2``, ``POST /api/validate-yaml``
* ``GET /api/{type}s/{repo}[/revision/{rev}]`` (model_info / repo_info; ``?blobs=1`` adds sizes and LFS info)
* ``GET /api/{type}s/{repo}/tree/{rev}[/{path}]``, ``/refs``, ``/commits/{rev}``
* ``POST /api/{type}s/{repo}/preupload/{rev}`` -> "regular" or "lfs" per file, plus the remote oid
* ``POST /{repo}.git/info/lfs/objects/batch`` -> "basic" transfer; the client then ``PUT``s the bytes to
  ``/lfs-upload/{key}`` (no auth header, like a presigned S3 URL; the key is unguessable and single-use)
* ``POST /api/{type}s/{repo}/commit/{branch}``: NDJSON (header, inline base64 ``file``, ``lfsFile``,
  ``deletedFile``, ``deletedFolder``)
* ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with ``X-Repo-Commit``, ``ETag`` (sha256 for LFS files,
  git blob sha1 otherwise), ``Content-Length`` and ``Range``.

Every commit is an immutable snapshot (the full path -> blob map), so any old commit sha stays resolvable.
Blobs are content-addressed files under ``ROOT/blobs``; repo metadata lives in ``ROOT/state.json``.
Errors carry the ``X-Error-Code`` the client maps to exceptions: ``RepoNotFound`` ->
RepositoryNotFoundError, ``RevisionNotFound`` -> RevisionNotFoundError, ``EntryNotFound`` ->
RemoteEntryNotFoundError. With ``--token`` a wrong bearer token gets a 401 everywhere and a missing one a
401 on writes (anonymous reads are allowed, as for public repos on the Hub).
Not covered: Xet, multipart LFS, pull requests, tags/branch creation, private/gated repos, CDN redirects.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import traceback
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}  # before repo ids in web/resolve URLs
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".msgpack", ".h5", ".onnx",
                ".npy", ".npz", ".gguf", ".zip", ".tar", ".gz", ".parquet", ".arrow", ".wav")
LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub stores files of 10 MiB or more in LFS whatever their name
GITATTRIBUTES = b"".join(b"*%s filter=lfs diff=lfs merge=lfs -text\n" % s.encode() for s in LFS_SUFFIXES)
BAD_TOKEN = "Invalid credentials in Authorization header"  # the client reports this 401 as-is


class HubError(Exception):
    """An HTTP error response: status, message, optional X-Error-Code and extra headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None,
                 body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers, self.body = status, message, code, headers or {}, body


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_sha1(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub calls a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def truthy(query: dict, key: str) -> bool:
    return query.get(key, [""])[0].lower() in ("1", "true", "yes")


class Store:
    """Repos, branches and commits (in memory, mirrored to state.json) plus content-addressed blobs."""

    def __init__(self, root: Path):
        self.root, self.blobs = root, root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.state_file = root / "state.json"
        self.repos: dict = json.loads(self.state_file.read_text()) if self.state_file.is_file() else {}
        self.pending: dict[str, tuple[str, int]] = {}  # LFS upload key -> (sha256, size)
        self.lock = threading.RLock()

    def save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.repos))
        os.replace(tmp, self.state_file)

    # -- blobs ---------------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise HubError(400, f"invalid sha256 {sha256!r}")
        return self.blobs / sha256

    def put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_path(sha)
        if not path.is_file():
            tmp = path.with_name(f"{sha}.{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        return sha

    # -- repos and revisions -------------------------------------------------------------------------
    def repo(self, rtype: str, repo_id: str) -> dict:
        repo = self.repos.get(f"{rtype}/{repo_id}")
        if repo is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    @staticmethod
    def resolve(repo: dict, rev: str | None) -> str:
        """Branch name or full commit sha -> commit sha (RevisionNotFound otherwise)."""
        rev = rev or "main"
        if rev in repo["branches"]:
            return repo["branches"][rev]
        if rev in repo["commits"]:
            return rev
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    @staticmethod
    def add_commit(repo: dict, parent: str | None, files: dict, title: str, message: str = "") -> str:
        sha = hashlib.sha1(json.dumps([parent, files, title, now(), secrets.token_hex(8)]).encode()).hexdigest()
        repo["commits"][sha] = {"parent": parent, "files": files, "title": title, "message": message, "date": now()}
        return sha


class HubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries a Content-Length
    server_version = "TestHub/1.0"
    store: Store
    token: str | None
    user: str
    quiet: bool

    # -- plumbing ------------------------------------------------------------------------------------
    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)

    def read_body(self) -> bytes:
        """The whole request body (Content-Length or chunked), read before anything can fail."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, status: int, body: bytes = b"", headers: dict | None = None, length: int | None = None):
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, obj, status: int = 200, headers: dict | None = None):
        self.send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    @property
    def base(self) -> str:
        return f"http://{self.headers.get('Host') or '127.0.0.1:%d' % self.server.server_address[1]}"

    def json_body(self) -> dict:
        try:
            return json.loads(self.body or b"{}")
        except json.JSONDecodeError as e:
            raise HubError(400, f"invalid JSON body: {e}")

    def authorize(self, write: bool) -> None:
        if self.token is None:
            return
        auth = self.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {self.token}":
            raise HubError(401, BAD_TOKEN)
        if auth is None and write:
            raise HubError(401, "You must be authenticated to write (no Authorization header)")

    def dispatch(self) -> None:
        method, url = self.command, urlsplit(self.path)
        self.query = parse_qs(url.query)
        self.body = self.read_body() if method in ("POST", "PUT", "DELETE") else b""
        parts = [unquote(p) for p in url.path.split("/")[1:]]  # split first: %2F stays inside a segment
        try:
            if parts[:1] == ["lfs-upload"] and method == "PUT" and len(parts) == 2:
                return self.lfs_put(parts[1])  # authorised by its single-use key, like a presigned URL
            self.authorize(write=method in ("POST", "PUT", "DELETE") and parts != ["api", "validate-yaml"])
            self.route(method, parts)
        except HubError as e:
            headers = {"X-Error-Message": e.message.encode("ascii", "replace").decode(), **e.headers}
            if e.code:
                headers["X-Error-Code"] = e.code
            self.send_json({"error": e.message, **(e.body or {})}, e.status, headers)
        except Exception as e:  # a server bug: say so loudly instead of hanging the client
            traceback.print_exc()
            self.send_json({"error": f"test hub server error: {e!r}"}, 500)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = dispatch

    def route(self, method: str, p: list[str]) -> None:
        if p == ["api", "whoami-v2"] and method == "GET":
            return self.whoami()
        if p == ["api", "repos", "create"] and method == "POST":
            return self.create_repo()
        if p == ["api", "repos", "delete"] and method == "DELETE":
            return self.delete_repo()
        if p == ["api", "validate-yaml"] and method == "POST":
            return self.send_json({"errors": [], "warnings": []})  # no real YAML validation
        if len(p) >= 4 and p[0] == "api" and p[1] in REPO_TYPES:
            rtype, repo_id, rest = REPO_TYPES[p[1]], f"{p[2]}/{p[3]}", p[4:]
            if method == "GET" and not rest:
                return self.repo_info(rtype, repo_id, None)
            if method == "GET" and len(rest) == 2 and rest[0] == "revision":
                return self.repo_info(rtype, repo_id, rest[1])
            if method == "GET" and len(rest) >= 2 and rest[0] == "tree":
                return self.tree(rtype, repo_id, rest[1], "/".join(rest[2:]))
            if method == "GET" and rest == ["refs"]:
                return self.refs(rtype, repo_id)
            if method == "GET" and len(rest) == 2 and rest[0] == "commits":
                return self.commits(rtype, repo_id, rest[1])
            if method == "POST" and len(rest) == 2 and rest[0] == "preupload":
                return self.preupload(rtype, repo_id, rest[1])
            if method == "POST" and len(rest) == 2 and rest[0] == "commit":
                return self.commit(rtype, repo_id, rest[1])
        rtype = "model"
        if p and p[0] in ("datasets", "spaces"):
            rtype, p = REPO_TYPES[p[0]], p[1:]
        if method == "POST" and len(p) == 6 and p[1].endswith(".git") and p[2:] == ["info", "lfs", "objects", "batch"]:
            return self.lfs_batch(rtype, f"{p[0]}/{p[1][:-4]}")
        if method in ("GET", "HEAD") and len(p) >= 5 and p[2] == "resolve":
            return self.resolve_file(rtype, f"{p[0]}/{p[1]}", p[3], "/".join(p[4:]))
        raise HubError(404, f"test hub server: no route for {method} {self.path}")

    # -- account and repos ---------------------------------------------------------------------------
    def whoami(self):
        if self.token is not None and self.headers.get("Authorization") is None:
            raise HubError(401, BAD_TOKEN)
        self.send_json({"type": "user", "name": self.user, "fullname": self.user, "orgs": [],
                        "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def _repo_id_from_body(self) -> tuple[str, str]:
        body = self.json_body()
        name, org = body.get("name") or "", body.get("organization") or self.user
        if not name or "/" in name or "/" in org:
            raise HubError(400, f"invalid repo name {name!r} / organization {org!r}")
        return body.get("type") or "model", f"{org}/{name}"

    def create_repo(self):
        rtype, repo_id = self._repo_id_from_body()
        url = f"{self.base}/{URL_PREFIX.get(rtype, '')}{repo_id}"
        with self.store.lock:
            if f"{rtype}/{repo_id}" in self.store.repos:
                # create_repo(exist_ok=True) accepts the 409 and then reads "url" from its body
                raise HubError(409, f"You already created this {rtype} repo: {repo_id}", body={"url": url})
            repo = {"created": now(), "branches": {}, "commits": {}}
            attrs = {"sha256": self.store.put_blob(GITATTRIBUTES), "size": len(GITATTRIBUTES), "lfs": False,
                     "oid": git_sha1(GITATTRIBUTES)}
            repo["branches"]["main"] = self.store.add_commit(repo, None, {".gitattributes": attrs}, "initial commit")
            self.store.repos[f"{rtype}/{repo_id}"] = repo
            self.store.save()
        self.send_json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self):
        rtype, repo_id = self._repo_id_from_body()
        with self.store.lock:
            self.store.repo(rtype, repo_id)  # 404 if missing
            del self.store.repos[f"{rtype}/{repo_id}"]
            self.store.save()
        self.send_json({})

    # -- read API ------------------------------------------------------------------------------------
    @staticmethod
    def _file_info(path: str, entry: dict) -> dict:
        info = {"type": "file", "path": path, "size": entry["size"], "oid": entry["oid"]}
        if entry["lfs"]:
            info["lfs"] = {"oid": entry["sha256"], "size": entry["size"],
                           "pointerSize": len(lfs_pointer(entry["sha256"], entry["size"]))}
        return info

    def _snapshot(self, rtype: str, repo_id: str, rev: str | None) -> tuple[dict, str, dict]:
        repo = self.store.repo(rtype, repo_id)
        sha = self.store.resolve(repo, rev)
        return repo, sha, repo["commits"][sha]

    def repo_info(self, rtype: str, repo_id: str, rev: str | None):
        with self.store.lock:
            repo, sha, commit = self._snapshot(rtype, repo_id, rev)
        siblings = []
        for path, entry in sorted(commit["files"].items()):
            sibling = {"rfilename": path}
            if truthy(self.query, "blobs"):
                info = self._file_info(path, entry)
                sibling.update(size=info["size"], blobId=info["oid"])
                if "lfs" in info:
                    sibling["lfs"] = {"size": entry["size"], "sha256": entry["sha256"],
                                      "pointerSize": info["lfs"]["pointerSize"]}
            siblings.append(sibling)
        self.send_json({"_id": repo_id, "id": repo_id, "author": repo_id.split("/")[0], "sha": sha,
                        "lastModified": commit["date"], "createdAt": repo["created"], "private": False,
                        "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                        "siblings": siblings})

    def tree(self, rtype: str, repo_id: str, rev: str, path: str):
        with self.store.lock:
            _, _, commit = self._snapshot(rtype, repo_id, rev)
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        below = {p[len(prefix):]: e for p, e in commit["files"].items() if p.startswith(prefix)}
        if prefix and not below:
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
        recursive = truthy(self.query, "recursive")
        dirs = {rel.rsplit("/", 1 + i)[0] for rel in below for i in range(rel.count("/"))}
        entries = [{"type": "directory", "path": prefix + d, "size": 0, "oid": hashlib.sha1(d.encode()).hexdigest()}
                   for d in sorted(dirs) if recursive or "/" not in d]
        entries += [self._file_info(prefix + rel, e) for rel, e in sorted(below.items()) if recursive or "/" not in rel]
        self.send_json(entries)  # one page: no Link header

    def refs(self, rtype: str, repo_id: str):
        with self.store.lock:
            branches = dict(self.store.repo(rtype, repo_id)["branches"])
        self.send_json({"branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": sha}
                                     for b, sha in branches.items()],
                        "converts": [], "tags": [], "pullRequests": []})

    def commits(self, rtype: str, repo_id: str, rev: str):
        with self.store.lock:
            repo, sha, _ = self._snapshot(rtype, repo_id, rev)
            history = []
            while sha is not None:
                c = repo["commits"][sha]
                history.append({"id": sha, "authors": [{"user": self.user}], "date": c["date"],
                                "title": c["title"], "message": c["message"]})
                sha = c["parent"]
        self.send_json(history)

    def resolve_file(self, rtype: str, repo_id: str, rev: str, path: str):
        with self.store.lock:
            _, sha, commit = self._snapshot(rtype, repo_id, rev)
        entry = commit["files"].get(path)
        if entry is None:
            raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound", {"X-Repo-Commit": sha})
        size, blob = entry["size"], self.store.blob_path(entry["sha256"])
        start, end, status = 0, size - 1, 200
        headers = {"X-Repo-Commit": sha, "ETag": f'"{entry["sha256"] if entry["lfs"] else entry["oid"]}"',
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and "," not in rng:  # resumed downloads ask for "bytes=N-"
            first, _, last = rng[len("bytes="):].partition("-")
            start, end = int(first or 0), min(int(last) if last else size - 1, size - 1)
            if start >= size or start > end:
                raise HubError(416, f"range {rng} not satisfiable for {size} bytes",
                               headers={"Content-Range": f"bytes */{size}"})
            status, headers["Content-Range"] = 206, f"bytes {start}-{end}/{size}"
        self.send(status, headers=headers, length=end - start + 1)
        if self.command == "GET":
            with open(blob, "rb") as f:
                f.seek(start)
                remaining = end - start + 1
                while remaining > 0 and (chunk := f.read(min(1 << 20, remaining))):
                    self.wfile.write(chunk)
                    remaining -= len(chunk)

    # -- write API -----------------------------------------------------------------------------------
    def preupload(self, rtype: str, repo_id: str, rev: str):
        with self.store.lock:
            repo = self.store.repo(rtype, repo_id)
            head = repo["commits"][repo["branches"][rev]]["files"] if rev in repo["branches"] else {}
        files = []
        for f in self.json_body().get("files", []):
            sample = base64.b64decode(f.get("sample") or "")
            lfs = f["path"].lower().endswith(LFS_SUFFIXES) or f["size"] >= LFS_MIN_SIZE or b"\0" in sample
            remote = head.get(f["path"])  # the client skips files whose oid did not change
            oid = None if remote is None else (remote["sha256"] if remote["lfs"] else remote["oid"])
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                          "shouldIgnore": False, "oid": oid})
        self.send_json({"files": files, "commitOid": repo["branches"].get(rev)})

    def lfs_batch(self, rtype: str, repo_id: str):
        body = self.json_body()
        if body.get("operation") != "upload" or "basic" not in body.get("transfers", ["basic"]):
            raise HubError(400, "test hub server: only LFS uploads with the 'basic' transfer are supported")
        objects = []
        with self.store.lock:
            self.store.repo(rtype, repo_id)
            for obj in body.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                out = {"oid": oid, "size": size, "authenticated": True}
                if not self.store.blob_path(oid).is_file():  # already stored => no "actions": client skips it
                    key = secrets.token_urlsafe(24)
                    self.store.pending[key] = (oid, size)
                    out["actions"] = {"upload": {"href": f"{self.base}/lfs-upload/{key}"}}
                objects.append(out)
        self.send_json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                       headers={"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_put(self, key: str):
        with self.store.lock:
            expected = self.store.pending.pop(key, None)
        if expected is None:
            raise HubError(403, "unknown or already used LFS upload URL")
        oid, size = expected
        if len(self.body) != size or hashlib.sha256(self.body).hexdigest() != oid:
            raise HubError(400, f"uploaded bytes do not match oid {oid} / size {size}")
        self.store.put_blob(self.body)
        self.send(200, headers={"ETag": f'"{oid}"'})

    def commit(self, rtype: str, repo_id: str, branch: str):
        if truthy(self.query, "create_pr"):
            raise HubError(400, "test hub server: create_pr is not supported")
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "commit payload must start with a header line")
        header = lines[0]["value"]
        with self.store.lock:
            repo = self.store.repo(rtype, repo_id)
            if branch not in repo["branches"]:
                if branch in repo["commits"]:
                    raise HubError(400, f"cannot commit to a commit sha ({branch}); use a branch")
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            head = repo["branches"][branch]
            if header.get("parentCommit") not in (None, head):
                raise HubError(412, f"parent commit {header['parentCommit']} is not the head of {branch} ({head})")
            files = dict(repo["commits"][head]["files"])
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                path = value.get("path", "")
                if key == "file":
                    data = base64.b64decode(value["content"])
                    files[path] = {"sha256": self.store.put_blob(data), "size": len(data), "lfs": False,
                                   "oid": git_sha1(data)}
                elif key == "lfsFile":
                    blob = self.store.blob_path(value["oid"])
                    if not blob.is_file():
                        raise HubError(400, f"LFS object {value['oid']} for {path} was never uploaded")
                    size = blob.stat().st_size
                    files[path] = {"sha256": value["oid"], "size": size, "lfs": True,
                                   "oid": git_sha1(lfs_pointer(value["oid"], size))}
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise HubError(400, f"test hub server: unsupported commit operation {key!r}")
            sha = self.store.add_commit(repo, head, files, header.get("summary", ""), header.get("description", ""))
            repo["branches"][branch] = sha
            self.store.save()
        url = f"{self.base}/{URL_PREFIX.get(rtype, '')}{repo_id}/commit/{sha}"
        self.send_json({"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--root", required=True, type=Path, help="where blobs and state.json are kept")
    parser.add_argument("--token", default=None, help="if set, the only bearer token accepted")
    parser.add_argument("--user", default="test-user", help="the user the token belongs to (default namespace)")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="exit when stdin reaches EOF (i.e. when the parent process that holds it dies)")
    args = parser.parse_args(argv)

    handler = type("Handler", (HubHandler,), {"store": Store(args.root), "token": args.token,
                                             "user": args.user, "quiet": args.quiet})
    server = ThreadingHTTPServer((args.host, args.port), handler)
    server.daemon_threads = True
    if args.exit_with_stdin:
        def watch_stdin():
            sys.stdin.buffer.read()
            server.shutdown()
        threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
