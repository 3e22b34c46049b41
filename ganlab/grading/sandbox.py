"""Running a submission in a sandbox: bubblewrap on Linux, or a plain process without it.

Under bubblewrap (Debian's ``bubblewrap``; :func:`available` tells) a submission's
notebook runs with

* **no network**: a network namespace of its own, with nothing but its own loopback;
* **a private, empty** ``HOME`` (``/home/student``) **and** ``/tmp`` (both in memory,
  thrown away afterwards);
* **a read-only file system** made of the system folders, the Python installation and
  this ``ganlab`` package only; the one writable folder is the submission's work folder,
  mounted at ``/grading``. The instructor's source notebooks, the other submissions and
  the grader's reports are not there at all;
* **an unprivileged user** (uid 65534, in a user namespace of its own), in **a process
  namespace** of its own: when the run ends every process it started ends with it;
* **a memory limit** (``RLIMIT_AS`` of each process, ``--memory-limit``) besides the
  grader's time limits.

:mod:`ganlab.grading.inside` is the program that runs in it: it starts nbval, then
reports (on its standard output, which the submission never holds) the processes still
running and the files left in ``HOME`` and ``/tmp``, and ends them.

Without bubblewrap (macOS, Windows, a machine without it) the same program runs as a
plain process with private ``HOME`` and ``TMPDIR`` folders in the work folder: graded
the same, but not isolated; the grader says so (``"sandbox": null`` in the report), and
``--require-sandbox`` makes it refuse to grade instead.
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

WORK = "/grading"                  # the work folder inside the sandbox
HOME = "/home/student"             # the private home inside the sandbox
DEFAULT_MEMORY_LIMIT = 8 * 2**30   # bytes of address space per process
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# environment variables passed into the sandbox (anything else, secrets included, stays out)
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TERM", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "GANLAB_FAST",
              "GANLAB_DEVICE", "PYTHONHASHSEED")


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """The bubblewrap program if it is installed and works here, else None."""
    path = shutil.which("bwrap")
    if path is None or not sys.platform.startswith("linux"):
        return None
    try:
        probe = subprocess.run([path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
                                "--uid", "65534", "--gid", "65534", "true"],
                               capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return path if probe.returncode == 0 else None


def available() -> bool:
    return bwrap_path() is not None


def version() -> str | None:
    path = bwrap_path()
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def python_folders() -> list[Path]:
    """The folders the Python running the grader needs: its prefixes and site-packages."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
             sysconfig.get_paths()["platlib"], *site.getsitepackages()}
    user = site.getusersitepackages()
    if isinstance(user, str) and Path(user).is_dir():
        paths.add(user)
    found = []
    for p in sorted(paths):
        real = Path(p).resolve()
        if real.is_dir() and not any(real == f or f in real.parents for f in found):
            found.append(real)
    return found


def package_folder() -> Path:
    """This ``ganlab`` package's folder (the only part of a checkout the sandbox sees)."""
    return Path(__file__).resolve().parents[1]


def environment(base: dict[str, str], work: str, extra: dict[str, str]) -> dict[str, str]:
    """The environment of the submission's processes: a few of ``base`` and ``extra``."""
    env = {k: base[k] for k in PASSED_ENV if k in base}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    state = f"{work}/.state"
    env.update({
        "HOME": extra.get("HOME", HOME), "TMPDIR": extra.get("TMPDIR", "/tmp"),
        "PYTHONPATH": str(package_folder().parent), "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{state}/matplotlib",
        "IPYTHONDIR": f"{state}/ipython", "JUPYTER_RUNTIME_DIR": f"{state}/jupyter/runtime",
        "JUPYTER_DATA_DIR": f"{state}/jupyter/data",
        "JUPYTER_CONFIG_DIR": f"{state}/jupyter/config",
        "JUPYTER_PLATFORM_DIRS": "1", "XDG_CACHE_HOME": f"{state}/cache",
        "TORCH_HOME": f"{state}/torch", "PYTEST_ADDOPTS": "",
    })
    env.update({k: v for k, v in extra.items() if k not in ("HOME", "TMPDIR")})
    return env


def command(inner: list[str], work: Path, env: dict[str, str]) -> list[str]:
    """The bubblewrap command line that runs ``inner`` with ``work`` as ``/grading``."""
    path = bwrap_path()
    if path is None:
        raise RuntimeError("bubblewrap is not available")
    args = [path, "--die-with-parent", "--new-session", "--unshare-all",
            "--uid", "65534", "--gid", "65534", "--hostname", "grading", "--clearenv"]
    for folder in SYSTEM_FOLDERS:
        if Path(folder).is_symlink():
            args += ["--symlink", os.readlink(folder), folder]
        elif Path(folder).is_dir():
            args += ["--ro-bind", folder, folder]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/home",
             "--dir", HOME, "--tmpfs", "/root", "--tmpfs", "/var", "--dir", "/var/tmp"]
    for folder in python_folders():
        args += ["--ro-bind", str(folder), str(folder)]
    package = package_folder()
    args += ["--ro-bind", str(package), str(package), "--bind", str(work), WORK, "--chdir", WORK]
    for key, value in env.items():
        args += ["--setenv", key, value]
    return args + ["--", *inner]


def info(memory_limit: int | None) -> dict | None:
    """What the report says of the sandbox (``None`` without one)."""
    if not available():
        return None
    return {"kind": "bubblewrap", "version": version(), "network": False,
            "home": HOME, "writable": [WORK], "memory_limit": memory_limit or None,
            "user": 65534}
