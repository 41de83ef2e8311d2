"""Run inside a VM of the VM lab (python3 -, over SSH): where its boot and its cloud-init
time went, as one JSON object on stdout. Reads only what the guest recorded itself:

  boot        `systemd-analyze time` (kernel, initrd, userspace; no firmware or loader:
              the lab boots the kernel directly) and the slowest units of `blame`
  cloud-init  /run/cloud-init/status.json (each stage's start and finish) and the
              slowest modules of `cloud-init analyze dump` (start/finish event pairs)
  apt         /var/log/apt/history.log (the user data's install: start, end) and
              /var/log/dpkg.log (first unpack, last unpack, last configure, last trigger, and
              the slowest actions; whole seconds)

Stdlib only, Python 3.10+ (Debian bookworm's 3.11 runs it: cloud-init needs python3).
"""

import json
import re
import subprocess
from datetime import datetime


def sh(*args):
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def seconds(text):
    """'1min 2.345s' / '812ms' / '3.1s' -> seconds."""
    total = 0.0
    for value, unit in re.findall(r"([\d.]+)(min|ms|s)\b", text):
        total += float(value) * {"min": 60, "s": 1, "ms": 0.001}[unit]
    return round(total, 2)


def boot():
    out = sh("systemd-analyze", "time")
    parts = {name: seconds(value) for value, name in re.findall(r"((?:[\d.]+(?:min|ms|s)\s*)+)\((\w+)\)", out)}
    blame = []
    for line in sh("systemd-analyze", "blame", "--no-pager").splitlines()[:6]:
        m = re.match(r"\s*(.+?)\s+(\S+\.\w+)$", line)
        if m:
            blame.append([m.group(2), seconds(m.group(1))])
    return {"parts": parts, "slowest_units": blame}


def cloud_init():
    stages = {}
    try:
        with open("/run/cloud-init/status.json") as f:
            v1 = json.load(f)["v1"]
        for name in ("init-local", "init", "modules-config", "modules-final"):
            st = v1.get(name) or {}
            if st.get("start") and st.get("finished"):
                stages[name] = round(st["finished"] - st["start"], 2)
    except (OSError, ValueError, KeyError):
        pass
    starts, modules = {}, {}
    try:
        events = json.loads(sh("cloud-init", "analyze", "dump") or "[]")
    except ValueError:
        events = []
    for e in events:
        name = e.get("name", "")
        if "/config-" not in name:
            continue
        if e.get("event_type") == "start":
            starts[name] = e["timestamp"]
        elif e.get("event_type") == "finish" and name in starts:
            modules[name.split("/config-", 1)[1]] = round(e["timestamp"] - starts[name], 2)
    slowest = sorted(modules.items(), key=lambda kv: -kv[1])[:5]
    return {"stages": stages, "slowest_modules": [list(kv) for kv in slowest]}


def stamp(text):
    return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").timestamp()


def apt():
    out, t0, t1 = {}, None, None
    try:
        with open("/var/log/apt/history.log") as f:
            history = f.read()
        for block in history.split("\n\n"):
            if re.search(r"^Install: .*\bdocker\.io:", block, re.M):
                s = re.search(r"^Start-Date: (.+)$", block, re.M)
                e = re.search(r"^End-Date: (.+)$", block, re.M)
                if s and e:
                    t0, t1 = stamp(s.group(1).replace("  ", " ")), stamp(e.group(1).replace("  ", " "))
                    out["install"] = t1 - t0
                    out["packages"] = len(re.findall(r"\), ", block)) + 1
    except (OSError, ValueError):
        return out
    if t0 is None or t1 is None:
        return out
    marks, lines = {}, []
    try:
        with open("/var/log/dpkg.log") as f:
            for line in f:
                # dpkg's actions: install/upgrade (unpack a package), configure, trigproc
                m = re.match(r"(\S+ \S+) (install|upgrade|configure|trigproc) (\S+)", line)
                if m and t0 <= stamp(m.group(1)) <= t1:
                    t, action = stamp(m.group(1)), m.group(2).replace("install", "unpack").replace("upgrade", "unpack")
                    marks.setdefault("first unpack", t)
                    marks["last " + action] = t
                    lines.append((t, f"{action} {m.group(3).split(':')[0]}"))
    except (OSError, ValueError):
        return out
    # Each action until the next one began (whole seconds): the slowest of them.
    spans = [(b[0] - a[0], a[1]) for a, b in zip(lines, [*lines[1:], (t1, "")], strict=True)]
    out["slowest actions"] = [[name, took] for took, name in sorted(spans, reverse=True)[:6]]
    if "first unpack" in marks:
        first = marks["first unpack"]
        out["download (install start -> first unpack)"] = first - t0
        for k in ("last unpack", "last configure", "last trigproc"):
            if k in marks:
                out[f"{k} (after the first unpack)"] = marks[k] - first
    return out


if __name__ == "__main__":  # `python3 -` in the guest
    print(json.dumps({"boot": boot(), "cloud_init": cloud_init(), "apt": apt()}))
