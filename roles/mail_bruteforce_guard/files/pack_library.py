"""Pack the detector library into one gzipped tar on the controller; print the archive's path.

pack_library.py SRC PREFIX FILE... : each FILE (relative to SRC) is stored as PREFIX/FILE, owned by root, mode
0644 (directories 0755), so the role unpacks it on a host in one transfer. Stdlib only: it runs on the
controller's Python, wherever that is.
"""

from __future__ import annotations

import os
import sys
import tarfile
import tempfile


def _member(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def main(argv: list[str]) -> int:
    src, prefix, files = argv[0], argv[1], argv[2:]
    fd, path = tempfile.mkstemp(prefix="mbg-library-", suffix=".tar.gz")
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name in files:
            tar.add(f"{src}/{name}", arcname=f"{prefix}/{name}", filter=_member)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
