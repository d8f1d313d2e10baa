"""A reader that closes the pipe early (`wsc inspect ... | head`) gets no error message."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_closed_stdout_stops_quietly() -> None:
    code = "from compiler.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "inspect", str(ROOT / "samples/mlp.wsl")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.close()  # the reader is gone before wsc writes a byte (`| head -0`)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141  # the shell's status for a broken pipe
    assert "error" not in err and "Traceback" not in err
