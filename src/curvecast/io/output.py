"""Writing an output file whole or not at all, and never over something that is not a file.

Every file curvecast writes (reports, long tables, the demo's plot, JSON and database)
goes through :func:`staged`: the bytes go to a temporary file beside the target, are
flushed to disk (fsync) and renamed onto it, so a failure (a full disk, an interrupt,
a bug) leaves the old file, or none, never half of a new one. What the target is
decides how it is written:

* a regular file, or none yet: replaced (or created) by the rename; a replaced file
  keeps its permission bits, a new one gets 0666 less the umask;
* a symbolic link: written through, to the file it points at; the link stays;
* a character device (``/dev/null``) or a FIFO: written in place, once the whole
  output is ready (a FIFO nobody reads is an error, not a hang), never replaced;
* a directory, a block device or a socket: refused.

Every failure is an :class:`OutputError` (a :class:`~curvecast.errors.UsageError`):
one line naming the path, what went wrong and what to do; the command line prints it
and exits 2.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "r.txt"
>>> write_text(out, "hi\\n").read_text()
'hi\\n'
>>> sorted(p.name for p in out.parent.iterdir())  # no temporary file left
['r.txt']
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError

__all__ = ["OutputError", "check_target", "output_dir", "staged", "write_bytes", "write_text"]

TEMP_TAG = ".tmp"
"""Part of every temporary file's name (they also start with a dot)."""


class OutputError(UsageError):
    """An output path that cannot be written; the message names it and what to do.

    >>> raise OutputError("cannot write '/x': permission denied")
    Traceback (most recent call last):
    ...
    curvecast.io.output.OutputError: cannot write '/x': permission denied
    """


def _shown(path: os.PathLike | str) -> str:
    """The path for a message, a very long one shortened (its length said)."""
    text = str(path)
    if len(text) > 160:
        text = f"{text[:60]}...{text[-40:]} ({len(text)} characters)"
    return repr(text)


def _blocker(path: Path) -> Path | None:
    """The first ancestor of ``path`` that exists and is not a directory (a file where a
    folder must be), or None."""
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            return parent
    return None


def _error(path: os.PathLike | str, exc: OSError, what: str = "write") -> OutputError:
    """An OutputError for ``exc``, raised while writing ``path``."""
    p = Path(path)
    code = exc.errno
    if code in (errno.ENOTDIR, errno.EEXIST) and (b := _blocker(p)) is not None:
        why = f"{_shown(b)} is a file, not a directory; choose another path"
    elif code in (errno.EACCES, errno.EPERM):
        why = "permission denied; choose a directory you can write to"
    elif code == errno.EROFS:
        why = "the file system is read-only; choose another place"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        why = f"{exc.strerror.lower()}; free some space or choose another place"
    elif code == errno.ENAMETOOLONG:
        why = "the name is too long for the file system; choose a shorter one"
    elif code == errno.ELOOP:
        why = "too many levels of symbolic links; fix the links or choose another path"
    elif code == errno.ENXIO:
        why = "no process is reading this FIFO (or the device is absent); start the reader first"
    elif code == errno.EISDIR:
        why = "it is a directory; give the name of a file, e.g. inside it"
    elif code == errno.ENOENT and not p.parent.exists():
        why = f"the folder {_shown(p.parent)} does not exist; create it or choose another"
    elif code == errno.ENOENT:
        why = (f"files cannot be created in {_shown(p.parent)}; choose a directory that "
               "exists and takes files")
    else:
        why = f"{exc.strerror or exc}; choose another path"
    return OutputError(f"cannot {what} {_shown(path)}: {why}")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISDIR, "directory"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISFIFO, "FIFO")):
        if test(mode):
            return name
    return "special file"


def _target(path: Path) -> tuple[Path, bool, int | None]:
    """(where the bytes go, written in place?, permission bits to keep).

    Symbolic links are followed: a link to a file writes that file, and a dangling link
    creates the file it names. Character devices and FIFOs are written in place.
    """
    try:
        st = os.stat(path)  # follows links, /proc's magic ones (/dev/stdout) too
    except FileNotFoundError:
        return (Path(os.path.realpath(path)) if os.path.islink(path) else path), False, None
    except OSError as exc:  # a file as a parent, a name too long, a link loop
        raise _error(path, exc) from None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return Path(os.path.realpath(path)), False, stat.S_IMODE(mode)
    if stat.S_ISCHR(mode) or stat.S_ISFIFO(mode):
        return path, True, None
    if stat.S_ISDIR(mode):
        raise OutputError(f"cannot write {_shown(path)}: it is a directory; give the name "
                          f"of a file, e.g. {_shown(path / 'report.html')}")
    raise OutputError(f"cannot write {_shown(path)}: it is a {_kind(mode)}, not a file; "
                      "curvecast writes only to files, character devices and FIFOs")


def _missing_dirs(folder: Path) -> list[Path]:
    """The folders to create for ``folder`` to exist, outermost first."""
    out = []
    while not folder.exists() and folder != folder.parent:
        out.append(folder)
        folder = folder.parent
    return out[::-1]


def _make_dirs(folder: Path, path: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the ones created, outermost first."""
    made: list[Path] = []
    try:
        for d in _missing_dirs(folder):
            d.mkdir()
            made.append(d)
    except OSError as exc:
        _remove_dirs(made)
        raise _error(path, exc) from None
    return made


def _remove_dirs(made: list[Path]) -> None:
    for d in reversed(made):
        try:
            d.rmdir()
        except OSError:
            break


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync(path: str | Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_through(tmp: str, path: Path) -> None:
    """Copy the finished output into a character device or FIFO at ``path``."""
    fifo = stat.S_ISFIFO(os.stat(path).st_mode)
    # non-blocking open: a FIFO without a reader fails (ENXIO) instead of hanging
    fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | (os.O_NONBLOCK if fifo else 0))
    os.set_blocking(fd, True)
    with os.fdopen(fd, "wb") as out, open(tmp, "rb") as src:
        shutil.copyfileobj(src, out)


@contextmanager
def staged(path: str | os.PathLike, *, parents: bool = True) -> Iterator[Path]:
    """A temporary path to write the output of ``path`` to (by name, as SQLite, matplotlib
    and pyarrow want); when the block ends without error it becomes ``path`` (see the
    module docstring), otherwise it is removed, with any folder made for it.

    The temporary file lies beside the target, is named ``.NAME.XXXX.tmp.EXT`` (the
    target's extension kept, for writers that read it) and exists, empty, on entry.
    ``parents``: create missing folders above ``path``. OSErrors raised inside the block
    become :class:`OutputError` naming ``path``.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "deep" / "t.csv"
    >>> with staged(out) as tmp:
    ...     _ = tmp.write_text("a,b\\n")
    >>> out.read_text()
    'a,b\\n'
    """
    path = Path(path)
    dest, through, mode = _target(path)
    folder = dest.parent
    made = [] if through or not parents else _make_dirs(folder, path)
    name = dest.name[:80]  # the target's name may be legal where a longer one is not
    try:
        fd, tmp = tempfile.mkstemp(dir=None if through else folder, prefix=f".{name}.",
                                   suffix=TEMP_TAG + "".join(dest.suffixes[-1:])[:20])
    except OSError as exc:
        _remove_dirs(made)
        raise _error(path, exc) from None
    os.close(fd)
    done = False
    try:
        yield Path(tmp)
        if through:
            _write_through(tmp, path)
        else:
            _fsync(tmp)
            os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
            os.replace(tmp, dest)
            try:
                _fsync(folder, directory=True)  # the rename itself reaches the disk
            except OSError:
                pass
        done = True
    except OSError as exc:
        raise _error(path, exc) from None
    finally:
        try:
            os.unlink(tmp)  # gone already after the rename
        except OSError:
            pass
        if not done:
            _remove_dirs(made)


def write_bytes(path: str | os.PathLike, data: bytes, *, parents: bool = True) -> Path:
    """Write ``data`` to ``path`` whole or not at all (see :func:`staged`); returns the path.

    >>> import tempfile, pathlib
    >>> write_bytes(pathlib.Path(tempfile.mkdtemp()) / "b.bin", b"\\x00\\x01").read_bytes()
    b'\\x00\\x01'
    """
    with staged(path, parents=parents) as tmp, open(tmp, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, *, parents: bool = True) -> Path:
    """Write ``text`` as UTF-8 to ``path`` whole or not at all; returns the path.

    >>> import tempfile, pathlib
    >>> write_text(pathlib.Path(tempfile.mkdtemp()) / "t.json", "{}").read_text()
    '{}'
    """
    return write_bytes(path, text.encode("utf-8"), parents=parents)


def check_target(path: str | os.PathLike) -> None:
    """Raise :class:`OutputError` now if ``path`` clearly cannot be written (a directory, a
    block device, a file where a folder must be, a folder without write permission, a
    name too long), before slow work whose result would then be lost. Writing can still
    fail later (a full disk); :func:`staged` reports that.

    >>> check_target("/")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    curvecast.io.output.OutputError: cannot write '/': it is a directory; ...
    """
    path = Path(path)
    dest, through, _ = _target(path)
    if through:
        return
    missing = _missing_dirs(dest.parent)
    base = missing[0].parent if missing else dest.parent
    if not base.is_dir():
        raise _error(path, OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)))
    if not os.access(base, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(base) else errno.EACCES
        raise _error(path, OSError(code, os.strerror(code)))
    try:
        limit = os.pathconf(base, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if any(len(p.name.encode("utf-8", "surrogateescape")) > limit for p in [*missing, dest]):
        raise _error(path, OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)))


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def output_dir(path: str | os.PathLike) -> Path:
    """Make ``path`` a folder to write outputs into (created with its parents if missing);
    :class:`OutputError` if it is something else or cannot be written.

    >>> import tempfile, pathlib
    >>> output_dir(pathlib.Path(tempfile.mkdtemp()) / "a" / "b").is_dir()
    True
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _make_dirs(path, path)
        return path
    except OSError as exc:
        raise _error(path, exc, "create the folder") from None
    if not stat.S_ISDIR(st.st_mode):
        what = "a file" if stat.S_ISREG(st.st_mode) else f"a {_kind(st.st_mode)}"
        raise OutputError(f"cannot write into {_shown(path)}: it is {what}, not a folder; "
                          "give a folder (new or existing)")
    if not os.access(path, os.W_OK | os.X_OK):
        code = errno.EROFS if _read_only(path) else errno.EACCES
        raise _error(path, OSError(code, os.strerror(code)), "write into")
    return path
