"""Pack the detector's files that differ on a host into one gzipped tar on the controller; print its path.

pack_library.py SPEC, SPEC the base64 of a JSON object
{"members": [[PATH, MODE, SHA1, SRC], ...], "content": {PATH: TEXT}}: a member is the text content[PATH] when
given (the rendered launcher), else the controller's file SRC, else (SRC null) a directory. PATH is absolute
(the role unpacks the archive in /), every member is owned by root with MODE, so the role installs the
library, the launcher and their directories in one transfer (tasks/detector.yml). Base64 keeps SPEC
shell-safe: the role runs this through the pipe lookup (no task of its own). Stdlib only: it runs on the
controller's Python, wherever that is.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path


def _info(path: str, mode: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = int(mode, 8)
    info.mtime = int(time.time())
    return info


def main(argv: list[str]) -> int:
    spec = json.loads(base64.b64decode(argv[0], validate=True))
    content = spec.get("content") or {}
    fd, archive = tempfile.mkstemp(prefix="mbg-library-", suffix=".tar.gz")
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for path, mode, _sha1, src in spec["members"]:
            info = _info(path, mode)
            if path in content:
                data = content[path].encode()
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif src is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                source = Path(src)
                info.size, info.mtime = source.stat().st_size, int(source.stat().st_mtime)
                with source.open("rb") as handle:
                    tar.addfile(info, handle)
    print(archive)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
