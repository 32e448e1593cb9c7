"""curvecast.io.output: every output whole or not at all, never over a device or a link."""

from __future__ import annotations

import os
import select
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from curvecast.curve import Curve
from curvecast.io import read_curves, write_long
from curvecast.io.output import (
    TEMP_TAG,
    OutputError,
    check_target,
    output_dir,
    staged,
    write_bytes,
    write_text,
)

ROOT = os.geteuid() == 0


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _no_temp(folder: Path) -> None:
    left = [p for p in _listing(folder) if TEMP_TAG in p]
    assert not left, f"temporary files left behind: {left}"


def test_new_file_gets_the_usual_mode_and_no_temp_is_left(tmp_path):
    out = write_text(tmp_path / "r.html", "<p>x</p>")
    assert out.read_text() == "<p>x</p>"
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask
    assert _listing(tmp_path) == ["r.html"]


def test_replaced_file_keeps_its_mode(tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old")
    out.chmod(0o640)
    write_text(out, "new")
    assert out.read_text() == "new" and stat.S_IMODE(out.stat().st_mode) == 0o640


def test_failure_inside_leaves_the_old_file_and_no_new_folder(tmp_path):
    old = tmp_path / "r.csv"
    old.write_text("old contents\n")
    with pytest.raises(RuntimeError), staged(old) as tmp:
        tmp.write_text("half")
        raise RuntimeError("the writer failed")
    assert old.read_text() == "old contents\n"
    deep = tmp_path / "a" / "b" / "r.csv"
    with pytest.raises(KeyboardInterrupt), staged(deep) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert _listing(tmp_path) == ["r.csv"]  # no temp file, no a/b made for nothing


def test_oserror_inside_becomes_one_line_naming_the_path(tmp_path):
    out = tmp_path / "r.bin"
    with pytest.raises(OutputError, match=r"cannot write '.*r\.bin': no space left") as err, \
            staged(out):
        raise OSError(28, "No space left on device")
    assert "\n" not in str(err.value)
    _no_temp(tmp_path)


def test_temp_keeps_the_extension_for_writers_that_read_it(tmp_path):
    with staged(tmp_path / "plot.png") as tmp:
        assert tmp.name.startswith(".plot.png.") and tmp.suffix == ".png"
        assert tmp.parent == tmp_path and tmp.exists()
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"


def test_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.html"
    real.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(real.name)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.html"
    dangling.symlink_to("made.html")
    write_text(dangling, "made")
    assert dangling.is_symlink() and (tmp_path / "made.html").read_text() == "made"
    _no_temp(tmp_path)


def test_symlink_loop_is_an_error(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OutputError, match="symbolic links"):
        write_text(tmp_path / "a", "x")


def test_dev_null_is_written_in_place_not_replaced():
    before = os.stat("/dev/null")
    write_text("/dev/null", "x" * 100_000)
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_dev_full_is_an_error_and_stays_a_device():
    before = os.stat("/dev/full")
    with pytest.raises(OutputError, match="'/dev/full': no space left on device"):
        write_text("/dev/full", "x" * 10_000)
    after = os.stat("/dev/full")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev


def test_fifo_without_reader_fails_at_once(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OutputError, match="no process is reading this FIFO"):
        write_text(fifo, "x")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _listing(tmp_path) == ["pipe"]


def test_fifo_with_reader_gets_the_whole_output(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    ready = threading.Event()

    def read() -> None:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader now, without a writer yet
        ready.set()
        select.select([fd], [], [], 10)  # until the writer's first bytes
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=read)
    t.start()
    ready.wait(10)
    data = os.urandom(200_000)  # more than a pipe holds: the writer blocks on the reader
    write_bytes(fifo, data)
    t.join(10)
    assert got == [data] and stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_directory_socket_and_block_device_are_refused(tmp_path):
    with pytest.raises(OutputError, match="is a directory"):
        write_text(tmp_path, "x")
    sock = tmp_path / "sock"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock))
        with pytest.raises(OutputError, match="is a socket"):
            write_text(sock, "x")
        assert stat.S_ISSOCK(os.lstat(sock).st_mode)
    finally:
        s.close()
    if not ROOT:
        return
    block = tmp_path / "blk"
    try:  # an unassigned major number (240: local/experimental): no real disk behind it
        os.mknod(block, stat.S_IFBLK | 0o600, os.makedev(240, 0))
    except OSError:
        return
    for call in (check_target, lambda p: write_text(p, "x")):
        with pytest.raises(OutputError, match="is a block device"):
            call(block)
    assert stat.S_ISBLK(os.lstat(block).st_mode)


def test_parent_that_is_a_file_is_named(tmp_path):
    (tmp_path / "afile").write_text("keep")
    for target in (tmp_path / "afile" / "r.html", tmp_path / "afile" / "sub" / "r.html"):
        for call in (check_target, lambda p: write_text(p, "x")):
            with pytest.raises(OutputError, match=r"'.*afile' is a file, not a directory"):
                call(target)
    assert (tmp_path / "afile").read_text() == "keep"
    with pytest.raises(OutputError, match="is a file, not a folder"):
        output_dir(tmp_path / "afile")


def test_name_too_long(tmp_path):
    target = tmp_path / ("x" * 300 + ".html")
    for call in (check_target, lambda p: write_text(p, "x")):
        with pytest.raises(OutputError, match="too long") as err:
            call(target)
        assert "(" in str(err.value) and len(str(err.value)) < 300 + len(str(tmp_path))
    # a legal name whose temporary name would not be: still written
    ok = tmp_path / ("y" * 250 + ".html")
    write_text(ok, "x")
    assert ok.read_text() == "x"
    _no_temp(tmp_path)


def test_missing_folder_without_parents(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_text(tmp_path / "no" / "r.html", "x", parents=False)
    assert _listing(tmp_path) == []


def test_unwritable_folder():
    # root writes anywhere a mode allows; sysfs refuses new files even to root
    target = Path("/sys/curvecast-test.html")
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here")
    with pytest.raises(OutputError, match="permission denied|read-only"):
        write_text(target, "x")
    assert not target.exists()


@pytest.mark.skipif(ROOT, reason="root ignores permission bits")
def test_read_only_folder_without_root(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        for call in (check_target, lambda p: write_text(p, "x")):
            with pytest.raises(OutputError, match="permission denied"):
                call(ro / "r.html")
        with pytest.raises(OutputError, match="permission denied"):
            output_dir(ro)
    finally:
        ro.chmod(0o755)


def test_proc_is_refused_cleanly():
    if not Path("/proc/self").exists():
        pytest.skip("no /proc here")
    with pytest.raises(OutputError, match="cannot write '/proc/curvecast.html'"):
        write_text("/proc/curvecast.html", "x")


def test_output_dir_makes_nested_folders(tmp_path):
    d = output_dir(tmp_path / "a" / "b")
    assert d.is_dir() and output_dir(d) == d


def test_check_target_accepts_what_can_be_written(tmp_path):
    check_target(tmp_path / "new" / "deeper" / "r.html")
    check_target("/dev/null")
    assert _listing(tmp_path) == []  # checking makes nothing


def test_file_size_limit_mid_write_leaves_nothing(tmp_path):
    """A write that fails half-way (EFBIG under a file size limit, as a full disk would):
    the old file stays whole and no temporary file is left."""
    old = tmp_path / "runs.csv"
    old.write_text("run,step,value\nold,0,1\n")
    code = f"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
from curvecast.io.output import OutputError, write_text
try:
    write_text({str(old)!r}, "x" * 100_000)
except OutputError as exc:
    print(exc)
    sys.exit(2)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "cannot write" in proc.stdout and "Traceback" not in proc.stderr
    assert old.read_text() == "run,step,value\nold,0,1\n"
    assert _listing(tmp_path) == ["runs.csv"]


def test_write_long_goes_through_links_and_devices(tmp_path):
    real = tmp_path / "real.csv"
    link = tmp_path / "link.csv"
    link.symlink_to(real.name)
    write_long([Curve("a", [0, 1], [1.0, 0.5])], link)
    assert link.is_symlink() and read_curves(real).runs == ["a"]
    null = tmp_path / "null.csv"  # the extension names the format
    null.symlink_to("/dev/null")
    write_long([Curve("a", [0, 1], [1.0, 0.5])], null)
    assert null.is_symlink() and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    _no_temp(tmp_path)
