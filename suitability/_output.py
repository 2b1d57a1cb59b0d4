"""Writing output files whole or not at all.

Every file a command writes (checkpoints, proofs, keys, reports, export bundles) goes through
:func:`atomic_writer`: the bytes go to a temporary file in the target's own folder, are flushed
and fsynced, and only then renamed over the target (then the folder is fsynced, so the rename
survives a crash). A full disk, a file-size limit or a crash leaves either the old file or the new
one, never a truncated one; on failure the temporary file is removed and an
:class:`~suitability.errors.InputError` (exit 3) names the path and the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import InputError, Problem


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fail(path: Path | str, exc: OSError) -> InputError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        reason += " (nothing was written)"
    return InputError(
        f"cannot write {path}",
        [Problem(f"expected to write the whole file, found: {reason}", source=str(path), code="OUTPUT_NOT_WRITTEN")],
    )


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a folder; the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_writer(path: str | Path, *, mode: int = 0o666, exclusive: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary handle whose bytes replace ``path`` only once all are written and synced.

    Args:
        path: the file to write.
        mode: its permission bits (less the umask); ``0o600`` for a secret.
        exclusive: refuse to replace an existing file (checked again at the moment of linking it
            in, so two writers cannot both win).

    Raises:
        InputError: the file exists (``exclusive``) or could not be written whole; nothing is
            left behind.
    """
    target = Path(path)
    folder = target.parent
    if exclusive and os.path.lexists(target):
        raise _exists(target)
    try:
        fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise _fail(target, exc) from None
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode & ~_umask())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.link(temp, target)  # fails if the target appeared meanwhile
            temp.unlink()
        else:
            os.replace(temp, target)
        _fsync_folder(folder)
    except FileExistsError:
        _discard(temp)
        raise _exists(target) from None
    except OSError as exc:
        _discard(temp)
        raise _fail(target, exc) from None
    except BaseException:
        _discard(temp)
        raise


def _exists(target: Path) -> InputError:
    return InputError(
        f"{target} exists",
        [Problem("expected a new file; an existing file is never overwritten here", source=str(target))],
    )


def _discard(temp: Path) -> None:
    with contextlib.suppress(OSError):
        temp.unlink()


def write_atomic(path: str | Path, data: bytes | str, *, mode: int = 0o666, exclusive: bool = False) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` whole or not at all (see :func:`atomic_writer`)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_writer(path, mode=mode, exclusive=exclusive) as handle:
        handle.write(payload)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` whose files are moved into ``path`` once all are written.

    The files are fsynced by their writer (use :func:`write_atomic` or :func:`atomic_writer` inside
    it); when the block fails, the temporary folder is removed and ``path`` is left as it was.

    Raises:
        InputError: the folder could not be created or filled.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; a bundle is for handing out
    except OSError as exc:
        raise _fail(target, exc) from None
    try:
        yield staging
        if not target.exists():
            os.rename(staging, target)
        else:
            if not target.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "expected a folder", str(target))
            for item in sorted(staging.iterdir()):
                os.replace(item, target / item.name)
            staging.rmdir()
        _fsync_folder(target)
        _fsync_folder(target.parent)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _fail(target, exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
