"""The one recording writer (paradex/recordfile.py): private files, whole lines, and a full
disk that is an error (exit 74), not exit 0 with a cut file (issues 11 and 12)."""

from __future__ import annotations

import errno
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from paradexctl.cli.main import main
from paradexctl.core.recording import Mark, Meta, WsFrame, read_records
from paradexctl.errors import LocalFileError, UsageError
from paradexctl.paradex.recordfile import BUFFER_BYTES, RecordingWriter
from paradexctl.sim.testing import new_account

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full")


class FullDisk:
    """A binary file on a disk with ``room`` bytes free: short writes, then ENOSPC."""

    def __init__(self, room: int, chunk: int = 1000) -> None:
        self.room = room
        self.chunk = chunk
        self.data = bytearray()
        self.closed = False

    def write(self, b: Any) -> int:
        free = self.room - len(self.data)
        if free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        n = min(len(b), free, self.chunk)
        self.data += bytes(b[:n])
        return n

    def truncate(self, size: int) -> int:
        del self.data[size:]
        return size

    def close(self) -> None:
        self.closed = True


def _frame(i: int) -> WsFrame:
    return WsFrame(1_700_000_000_000 + i, "orders.ALL", {"id": str(i), "size": "0.0100"})


# -- the writer, with an injected file -----------------------------------------------------


def test_a_full_disk_is_an_error_and_the_file_ends_with_its_last_complete_line() -> None:
    disk = FullDisk(room=3 * BUFFER_BYTES + 123)  # the disk fills up in the middle of a line
    rec = RecordingWriter(disk, "rec.ndjson")
    with pytest.raises(LocalFileError) as info:
        for i in range(100_000):
            rec.write(_frame(i))
    err = info.value
    assert err.exit_code == 74 and err.kind == "local_io"
    assert "rec.ndjson" in str(err) and "No space left on device" in str(err)
    assert "valid up to its last complete line" in str(err)
    text = disk.data.decode()
    assert text.endswith("\n")
    records = list(read_records(text.splitlines()))  # every line is whole
    assert records == [_frame(i) for i in range(len(records))]
    assert err.details["lines"] == len(records) and err.details["bytes"] == len(disk.data)
    assert len(disk.data) > 3 * BUFFER_BYTES - 200


def test_the_failure_is_sticky_so_no_caller_can_end_with_exit_0() -> None:
    disk = FullDisk(room=10)
    rec = RecordingWriter(disk, "r")
    rec.write(Meta({"tool": "t"}))
    with pytest.raises(LocalFileError) as first:
        rec.flush()
    with pytest.raises(LocalFileError) as again:
        rec.write(Mark("x"))
    assert again.value is first.value
    with pytest.raises(LocalFileError):
        rec.close()
    assert disk.closed and disk.data == b""  # the partial line was cut back
    rec.abort()  # closed already: quiet


def test_short_writes_are_completed() -> None:
    disk = FullDisk(room=10**9, chunk=7)
    with RecordingWriter(disk, "r") as rec:
        for i in range(50):
            rec.write(_frame(i))
    assert disk.closed
    assert list(read_records(disk.data.decode().splitlines())) == [_frame(i) for i in range(50)]


def test_abort_flushes_what_it_can_and_never_raises() -> None:
    disk = FullDisk(room=10**9)
    with pytest.raises(KeyboardInterrupt), RecordingWriter(disk, "r") as rec:
        rec.write(_frame(1))
        raise KeyboardInterrupt
    assert disk.closed and disk.data.decode().count("\n") == 1
    full = FullDisk(room=5)
    rec = RecordingWriter(full, "r")
    rec.write(_frame(1))
    rec.abort()  # the disk is full: nothing raised, the cut line removed
    assert full.closed and full.data == b""


def test_a_lone_surrogate_from_the_exchange_is_written_as_its_json_escape() -> None:
    # json.loads('"\\ud800"') is a str that UTF-8 cannot encode (a text file raised
    # UnicodeEncodeError: exit 70)
    frame = WsFrame(1, "orders.ALL", json.loads('{"client_id": "a\\ud800b", "n": "é"}'))
    buf = io.BytesIO()
    rec = RecordingWriter(buf, "r")
    rec.write(frame)
    rec.flush()
    line = buf.getvalue().decode("utf-8")
    assert "\\ud800" in line and "é" in line
    assert list(read_records([line])) == [frame]


# -- the file -------------------------------------------------------------------------------


def test_a_new_recording_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "new.ndjson"
    with RecordingWriter.open(path) as rec:
        rec.write(Meta({"tool": "t"}))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(read_records(path.read_text().splitlines())) == [Meta({"tool": "t"})]


def test_an_existing_0644_file_becomes_0600_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "old.ndjson"
    path.write_text("old contents\n")
    path.chmod(0o644)
    rec = RecordingWriter.open(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == ""  # truncated
    rec.close()


def test_a_file_that_cannot_be_opened_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"--record .*No such file or directory"):
        RecordingWriter.open(tmp_path / "missing" / "r.ndjson")


@needs_dev_full
def test_dev_full_is_a_local_file_error() -> None:
    rec = RecordingWriter.open(DEV_FULL)  # a device: its mode is left alone
    rec.write(Meta({"tool": "t"}))
    with pytest.raises(LocalFileError, match="/dev/full: write failed: No space left on device"):
        rec.close()


# -- the commands ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(sim: Any, sim_cli_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    acct = new_account(sim.http_url)
    sim_cli_env.setenv("PARADEX_ACCOUNT_ADDRESS", acct.address)
    sim_cli_env.setenv("PARADEX_L2_PRIVATE_KEY", hex(acct.private_key))
    return sim_cli_env


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@needs_dev_full
def test_stream_record_to_a_full_disk_exits_74(cli_env: Any, capsys: Any) -> None:
    code = main(["stream", "orders", "--duration", "10", "--record", str(DEV_FULL)])
    err = capsys.readouterr().err
    assert code == 74, err
    assert "write failed: No space left on device" in _one_line(err)


def test_stream_record_into_an_existing_0644_file_leaves_it_0600(
    cli_env: Any, capsys: Any, tmp_path: Path
) -> None:
    path = tmp_path / "rec.ndjson"
    path.write_text("")
    path.chmod(0o644)
    code = main(["stream", "orders", "--duration", "0.5", "--record", str(path)])
    assert code == 0, capsys.readouterr().err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    records = list(read_records(path.read_text().splitlines()))
    assert type(records[0]) is Meta


@needs_dev_full
def test_reconcile_record_to_a_full_disk_exits_74(cli_env: Any, capsys: Any) -> None:
    code = main(["-q", "reconcile", "--window", "0.2", "--grace", "0.1", "--record", str(DEV_FULL)])
    err = capsys.readouterr().err
    assert code == 74, err
    assert "--record /dev/full: write failed" in _one_line(err)


def test_reconcile_replay_of_a_line_nested_50000_deep_is_a_usage_error(
    capsys: Any, tmp_path: Path
) -> None:
    path = tmp_path / "deep.ndjson"
    deep = "[" * 50_000 + "]" * 50_000
    path.write_text(
        '{"v":1,"type":"meta","tool":"t"}\n'
        '{"v":1,"type":"ws","received_at":1,"channel":"orders.ALL","data":' + deep + "}\n"
    )
    code = main(["reconcile", "--replay", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "line 2: invalid JSON (nested deeper than 64 levels)" in _one_line(err)


@needs_dev_full
def test_stream_record_to_dev_full_in_a_subprocess_exits_74(cli_env: Any) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "paradexctl", "stream", "orders", "--duration", "10",
         "--record", str(DEV_FULL)],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert proc.returncode == 74, proc.stderr
    line = _one_line(proc.stderr)
    assert line.startswith("paradexctl: --record /dev/full: write failed: No space left")
