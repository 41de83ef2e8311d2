"""Push the lab's test image (lab/image/build.sh) to a registry, with no Docker daemon.

The image is one layer: the rootfs tar that build.sh writes, as `docker import
--change 'CMD ["/bin/start"]' --change 'EXPOSE 5000'` would make it. It is uploaded
with the registry's HTTP API v2 (blob uploads, then an image manifest v2 schema 2),
so the host needs no dockerd (whose iptables rules would block the lab bridge).
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
BUILD_SH = ROOT / "lab" / "image" / "build.sh"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, address: str) -> None:
        host, _, port = address.partition(":")
        self.host, self.port = host, int(port or 80)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> http.client.HTTPResponse:
        # http.client, not urllib: no proxy from the environment may see lab traffic.
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = _sha(data)
        if self.request("HEAD", f"/v2/{repo}/blobs/{digest}").status == 200:
            return digest
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", b"", {"Content-Length": "0"})
        if resp.status != 202:
            raise RuntimeError(f"registry: upload of {digest} refused ({resp.status})")
        loc = urlsplit(resp.headers["Location"])
        path = loc.path + "?" + (loc.query + "&" if loc.query else "") + f"digest={digest}"
        resp = self.request(
            "PUT", path, data, {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
        )
        if resp.status != 201:
            raise RuntimeError(f"registry: blob {digest} not stored ({resp.status})")
        return digest

    def put_manifest(self, repo: str, tag: str, manifest: bytes) -> str:
        resp = self.request("PUT", f"/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": MANIFEST_V2})
        if resp.status != 201:
            raise RuntimeError(f"registry: manifest {repo}:{tag} not stored ({resp.status})")
        return resp.headers.get("Docker-Content-Digest") or _sha(manifest)


def image_blobs(rootfs_tar: bytes, cmd: list[str], port: int) -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of a one-layer image. Pure."""
    layer = gzip.compress(rootfs_tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": {"Cmd": cmd, "Env": [DEFAULT_PATH], "ExposedPorts": {f"{port}/tcp": {}}},
            "rootfs": {"type": "layers", "diff_ids": [_sha(rootfs_tar)]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "lab/image/build.sh"}],
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_V1, "size": len(config), "digest": _sha(config)},
            "layers": [{"mediaType": LAYER_GZIP, "size": len(layer), "digest": _sha(layer)}],
        }
    ).encode()
    return layer, config, manifest


def push_test_image(reference: str) -> str:
    """Build the test image and push it as REFERENCE (host:port/name:tag); its digest."""
    address, _, rest = reference.partition("/")
    repo, _, tag = rest.partition(":")
    tar = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, check=True).stdout
    layer, config, manifest = image_blobs(tar, ["/bin/start"], 5000)
    reg = Registry(address)
    reg.put_blob(repo, layer)
    reg.put_blob(repo, config)
    return reg.put_manifest(repo, tag or "latest", manifest)
