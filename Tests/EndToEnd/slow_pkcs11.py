"""Build and drive the "slow HSM" PKCS#11 wrapper (fixtures/slowpkcs11.c).

The wrapper forwards everything to a real module (env SLOWPKCS11_MODULE,
default SoftHSM) but sleeps before C_Sign / C_SignFinal for as many
milliseconds as the file named by env SLOWPKCS11_CONTROL says, re-read on
every call, so a test can make a running server's HSM slow and fast again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "fixtures" / "slowpkcs11.c"
DEFAULT_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


class SlowModuleBuildError(RuntimeError):
    pass


def build_slow_module(out_dir: Path) -> Path:
    """Compile the wrapper into out_dir/libslowpkcs11.so and return its path."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SlowModuleBuildError(
            "no C compiler found (cc/gcc/clang) on PATH; needed to build the slow PKCS#11 wrapper"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "libslowpkcs11.so"
    cmd = [cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(out), str(SOURCE), "-ldl"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SlowModuleBuildError(
            f"building slow PKCS#11 wrapper failed ({' '.join(cmd)}):\n{proc.stdout}{proc.stderr}"
        )
    return out


def set_delay(control: Path, ms: int) -> None:
    """Atomically set the per-sign delay (milliseconds; 0 = no delay)."""
    control = Path(control)
    fd, tmp = tempfile.mkstemp(dir=control.parent, prefix=control.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"{int(ms)}\n")
        os.replace(tmp, control)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def slow_module_env(control: Path, module: str = DEFAULT_MODULE) -> dict[str, str]:
    """Environment variables a process loading the wrapper needs."""
    return {"SLOWPKCS11_MODULE": module, "SLOWPKCS11_CONTROL": str(control)}
