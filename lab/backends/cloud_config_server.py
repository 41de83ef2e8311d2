"""`cloud-init schema --config-file FILE`, once per document read from stdin, in one
process: run by lab/backends/cloud_config.py under cloud-init's own interpreter (the
shebang of its `cloud-init` script), never the project's venv.

It calls the very entry point that script calls (console_scripts `cloud-init`, as the
script loads it through importlib.metadata) with the same arguments, and reports its
exit status and what it printed. So the verdict and the message are the command's
(cloud-init 22.4.2, Debian 12: cloudinit/cmd/main.py main -> config/schema.py
handle_schema_args, whose `error` exits 1); only the interpreter's start and
cloud-init's imports, most of each call's time, happen once.

Protocol, one request at a time: in, a line with the document's length in bytes, then
the document; out, one JSON line {"rc": N, "output": "..."}. EOF on stdin ends it.
"""

import contextlib
import io
import json
import os
import sys
import tempfile
from importlib.metadata import distribution


def entry_point():
    return next(
        ep
        for ep in distribution("cloud-init").entry_points
        if ep.group == "console_scripts" and ep.name == "cloud-init"
    ).load()


def check(cli, document: bytes) -> dict:
    fd, path = tempfile.mkstemp(suffix=".yaml")
    try:
        os.write(fd, document)
        os.close(fd)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                rc = cli(["cloud-init", "schema", "--config-file", path]) or 0
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
        return {"rc": rc, "output": out.getvalue()}
    finally:
        os.unlink(path)


def main() -> int:
    os.environ.setdefault("TZ", ":/etc/localtime")  # as the cloud-init script's __main__
    cli = entry_point()
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        header = stdin.readline()
        if not header:
            return 0
        document = stdin.read(int(header))
        stdout.write(json.dumps(check(cli, document)) + "\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
