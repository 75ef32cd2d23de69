"""Serialisation shared by every layer: safe reading, JSON-ready conversion, deterministic JSON, atomic writes.

Reading (:func:`read_regular_file`)
    Input files — model files, certificates and their array files — are read
    only when they are *regular* files no larger than a limit of
    :mod:`dmd_opt.core.limits`.  The file is opened with ``O_NONBLOCK`` and
    checked with ``fstat`` on the open descriptor, so a FIFO, a device such as
    ``/dev/zero`` or a directory is refused at once (no blocking open, no
    endless read, no race between a check and the open).

Writing (:func:`atomic_write`)
    Data go to a temporary file in the destination folder, are flushed to disk,
    and the temporary file is renamed over the destination: a reader sees the
    old file or the new one, never half of one.  The new file gets the mode a
    plain ``open(path, "w")`` would give it — ``0666`` less the user's umask,
    or the existing file's mode when it replaces one — not ``mkstemp``'s
    ``0600``.  The temporary file is removed on every failure path (including
    ``KeyboardInterrupt`` and the ``SystemExit`` the command line raises on
    SIGTERM); one left by a process killed outright (SIGKILL) is named after its
    host and process id and is removed by the next write to the same path once
    that process is gone.
"""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

from dmd_opt.core.errors import ModelError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def read_regular_file(path: str | os.PathLike, *, field: str = "file", limit: str = "file_bytes",
                      what: str = "file", follow_symlinks: bool = True) -> bytes:
    """The bytes of ``path`` — a regular file of at most the limit named ``limit``.

    Anything else (missing, unreadable, a directory, FIFO, device or socket, too
    large; a symbolic link when ``follow_symlinks`` is false) is a :class:`ModelError`
    on ``field``; nothing blocks and nothing is read past the limit.
    """
    from dmd_opt.core.limits import current, fmt
    cap = getattr(current(), limit)
    name = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        if os.path.islink(name):
            raise ModelError(field, f"{what} {name!r} is a symbolic link, not a regular file")
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(name, flags)
    except FileNotFoundError:
        raise ModelError(field, f"{what} {name!r} does not exist") from None
    except IsADirectoryError:
        raise ModelError(field, f"{what} {name!r} is a directory, not a regular file") from None
    except PermissionError:
        raise ModelError(field, f"{what} {name!r} cannot be read (permission denied)") from None
    except OSError as exc:
        raise ModelError(field, f"{what} {name!r} cannot be opened: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((k for test, k in _KINDS if test(st.st_mode)), "not a regular file")
            raise ModelError(field, f"{what} {name!r} is {kind}, not a regular file")
        if st.st_size > cap:
            raise ModelError(field, f"{what} {name!r} has {fmt(st.st_size, 'bytes')}, more than the "
                                    f"{fmt(cap, 'bytes')} allowed (limit {limit})")
        os.set_blocking(fd, True)
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise ModelError(field, f"{what} {name!r} grew past the {fmt(cap, 'bytes')} allowed (limit {limit})")
        return b"".join(chunks)
    except OSError as exc:
        raise ModelError(field, f"{what} {name!r} cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask, read without changing it where /proc allows."""
    try:
        with open("/proc/self/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o022)   # pragma: no cover - no /proc: read it by setting it back at once
    os.umask(old)
    return old


_HOST = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40] or "host"


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}.{_HOST}.{os.getpid()}."


def _remove_stale_temps(path: Path) -> None:
    """Remove ``.NAME.<host>.<pid>.*.tmp`` files of this host whose process is gone."""
    head = f".{path.name}.{_HOST}."
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return
    for e in entries:
        if not (e.name.startswith(head) and e.name.endswith(".tmp")):
            continue
        pid_text = e.name[len(head):].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue                              # still running: its write is in progress
        except ProcessLookupError:
            pass
        except OSError:
            continue                              # exists but not ours (EPERM): leave it
        try:
            os.unlink(e.path)
        except OSError:
            pass


def atomic_write(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename (module docstring)."""
    import tempfile
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    except OSError:
        mode = 0o666 & ~_umask()
    _remove_stale_temps(path)
    tmp = None
    fd = -1
    try:
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(path), suffix=".tmp", dir=path.parent)
        view = memoryview(payload)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        tmp = None
    finally:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and dataclass-like objects for ``json``."""
    import numpy as np
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and (obj != obj or obj in (float("inf"), float("-inf"))):
        return None
    return obj


def dumps(obj: Any) -> str:
    """Deterministic JSON (sorted keys) of a JSON-able object."""
    return json.dumps(to_jsonable(obj), sort_keys=True, indent=2)


__all__ = ["read_regular_file", "atomic_write", "to_jsonable", "dumps"]
