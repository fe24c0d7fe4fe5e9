"""Writing past the OS cache (yomitori_agent.directio): byte-exact at every size around the
block and buffer boundaries, with O_DIRECT and where the system has none, and errors that
surface instead of vanishing on the writer's thread."""

from __future__ import annotations

import os

import pytest
from yomitori_agent import directio
from yomitori_agent.directio import ALIGN, DirectFile, FileWriter, aligned
from yomitori_agent.fsutil import _overwrite

SIZES = [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5]


@pytest.fixture(params=["O_DIRECT", "no O_DIRECT"])
def direct(request, monkeypatch):
    if request.param == "no O_DIRECT":
        monkeypatch.delattr(directio.os, "O_DIRECT", raising=False)
    elif not hasattr(os, "O_DIRECT"):
        pytest.skip("this system has no O_DIRECT")
    return request.param == "O_DIRECT"


def test_the_file_writer_writes_every_size_byte_for_byte(tmp_path, direct):
    # Given files of sizes around the block (4 KiB) and buffer (1 MiB) boundaries, written in
    # pieces that do not line up with either
    bodies = {f"f{size}.bin": os.urandom(size) for size in SIZES}
    writer = FileWriter(buffers=2)
    # When they are written through the writer, two at a time
    for name, body in bodies.items():
        handle = writer.open(tmp_path / name)
        for i in range(0, len(body), 300_001):
            handle.write(memoryview(body)[i : i + 300_001])
        handle.close()
    writer.finish()
    # Then every file holds exactly its bytes
    for name, body in bodies.items():
        assert (tmp_path / name).read_bytes() == body, name


def test_close_with_wait_returns_once_the_file_is_complete(tmp_path, direct):
    # Given a file handed to the writer
    writer = FileWriter()
    handle = writer.open(tmp_path / "page.png")
    handle.write(b"x" * 70_000)
    # When closed with wait
    handle.close(wait=True)
    # Then it can be read whole at once (the upload reads large pages from their .part)
    assert (tmp_path / "page.png").read_bytes() == b"x" * 70_000
    writer.finish()


def test_an_error_on_the_writer_thread_comes_back_to_the_caller(tmp_path, direct):
    # Given a file the writer cannot create (its folder is gone)
    writer = FileWriter()
    writer.open(tmp_path / "missing" / "page.png").close()
    # When the writer finishes
    with pytest.raises(FileNotFoundError):
        writer.finish()


def test_an_unexpected_failure_on_the_writer_thread_comes_back_too(tmp_path, direct, monkeypatch):
    # Given a write that breaks with something other than an OS error (a bug, say)
    def broken(self, data, offset):
        raise ValueError("unexpected")

    monkeypatch.setattr(DirectFile, "pwrite", broken)
    writer = FileWriter()
    handle = writer.open(tmp_path / "page.png")
    handle.write(b"x" * 70_000)
    # When the file is closed and the writer finishes, Then the caller hears of it
    with pytest.raises(ValueError):
        handle.close(wait=True)
    writer.abort()


def test_an_existing_file_is_never_overwritten(tmp_path, direct):
    # Given a file that is already there
    (tmp_path / "page.png").write_bytes(b"keep")
    writer = FileWriter()
    writer.open(tmp_path / "page.png").close()
    # When the writer would create it
    with pytest.raises(FileExistsError):
        writer.finish()
    # Then it is untouched
    assert (tmp_path / "page.png").read_bytes() == b"keep"


@pytest.mark.parametrize("size", [ALIGN * 3, 8 * (1 << 20) + 123])
def test_overwrite_puts_zeros_over_every_byte_and_keeps_the_size(tmp_path, direct, size):
    # Given a package-sized file of random bytes (a tail that is not a whole block, too)
    path = tmp_path / "pkg.age"
    path.write_bytes(os.urandom(size))
    # When it is overwritten in 1 MiB pieces
    _overwrite(path, size, chunk=1 << 20)
    # Then it holds only zeros, as many as before
    assert path.read_bytes() == bytes(size)


def test_read_from_medium_returns_what_was_written_at_aligned_offsets(tmp_path, direct):
    # Given a file written through DirectFile from an aligned buffer, plus an unaligned tail
    path = tmp_path / "seg.bin"
    path.touch()
    data = os.urandom(2 * ALIGN + 10)
    buf = aligned(len(data))
    buf[: len(data)] = data
    with DirectFile(path, write=True) as f:
        f.pwrite(memoryview(buf)[: 2 * ALIGN], 0)
        f.pwrite(memoryview(buf)[2 * ALIGN : len(data)], 2 * ALIGN)
        f.sync()
        assert f.direct is direct
        # When it is read back from the medium
        back = aligned(len(data))
        n = f.read_from_medium(back, 0, len(data))
    # Then the bytes are the same (the read is short only at the end of the file)
    assert n == len(data) and bytes(back[:n]) == data


@pytest.mark.parametrize("size", SIZES)
def test_one_write_of_any_length_lands_whole_after_what_is_there(tmp_path, direct, size):
    # Given a file of two whole blocks and an aligned buffer whose length need not be blocks
    path = tmp_path / "pkg.age"
    head = os.urandom(2 * ALIGN)
    path.write_bytes(head)
    data = os.urandom(size)
    buf = aligned(size)
    buf[:size] = data
    # When it is written in one call behind them (whole blocks past the cache, the rest not)
    with DirectFile(path, write=True) as f:
        f.pwrite(memoryview(buf)[:size], len(head))
    # Then the file is exactly both
    assert path.read_bytes() == head + data
