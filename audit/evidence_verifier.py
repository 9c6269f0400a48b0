#!/usr/bin/env python3
"""Verify an evidence pack offline (Python 3.9+, standard library only).

    python3 verify.py evidence-C-0000001.zip      # the pack as received
    python3 verify.py .                            # or the folder it was unpacked into

Checks: every file is the one the manifest lists (SHA-256); every sealed audit event's hash is the
SHA-256 of its chain position, the previous link's hash and its fields (so no field was changed);
events next to each other in the chain link up. Prints what held and what did not; exits 0 when
everything held, 1 otherwise.
"""

import hashlib
import json
import sys
import zipfile
from pathlib import Path


def _files(where):
    path = Path(where)
    if path.is_file():
        with zipfile.ZipFile(path) as pack:
            return {name: pack.read(name) for name in pack.namelist()}
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


def verify(where):
    problems = []
    files = _files(where)
    if "manifest.json" not in files or "audit_events.json" not in files:
        return ["manifest.json or audit_events.json is missing"], 0
    manifest = json.loads(files["manifest.json"])
    for name, digest in sorted(manifest["files"].items()):
        if name not in files:
            problems.append(f"{name}: listed in the manifest, missing from the pack")
        elif hashlib.sha256(files[name]).hexdigest() != digest:
            problems.append(f"{name}: its SHA-256 is not the manifest's (the file was changed)")
    trail = json.loads(files["audit_events.json"])
    order = trail["content_fields"]
    checked = 0
    links = {}
    for event in trail["events"]:
        seal = event.get("seal")
        fields = event["fields"]
        if not seal:
            continue  # committed after the last sealing run: nothing to prove it by
        canonical = json.dumps([fields[name] for name in order], ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(f"{seal['seq']}|{seal['prev_hash']}|{canonical}".encode()).hexdigest()
        if digest != seal["hash"]:
            problems.append(
                f"audit event {fields['id']} (chain position {seal['seq']}): content does not match its hash"
            )
        links[seal["seq"]] = seal
        checked += 1
    for seq, seal in sorted(links.items()):
        following = links.get(seq + 1)
        if following is not None and following["prev_hash"] != seal["hash"]:
            problems.append(f"chain positions {seq} and {seq + 1} do not link up")
    head = trail.get("chain_head")
    if head and head["seq"] in links and links[head["seq"]]["hash"] != head["hash"]:
        problems.append(f"the chain head at position {head['seq']} is not the last event's hash")
    return problems, checked


def main(argv):
    where = argv[1] if len(argv) > 1 else str(Path(__file__).resolve().parent)
    problems, checked = verify(where)
    for problem in problems:
        print(f"FAIL {problem}")
    if problems:
        print(f"evidence pack NOT verified: {len(problems)} problem(s)")
        return 1
    print(f"evidence pack verified: every file as listed, {checked} audit events match their chain hashes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
