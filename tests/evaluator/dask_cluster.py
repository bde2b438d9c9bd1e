"""A real Dask cluster for tests and the benchmark: `dask scheduler` and `dask worker` processes.

Each side runs from a temporary folder outside the repo, in its own virtual environment, so it
imports the project only if the project was installed there the documented way (README, Scale
out). The environments share the bot's dependencies through a ``.pth`` line instead of copying
them (a venv made from a venv cannot use ``--system-site-packages`` to reach them), and the
project is installed with ``pip install --no-deps --no-build-isolation``: offline and about a
second. Loopback only: every process binds 127.0.0.1 and the scheduler picks a free port,
which it writes to its ``--scheduler-file`` (distributed/cli/dask_scheduler.py).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_PROJECT_FILES = ("ai_brain", "src", "pyproject.toml", "requirements.txt")


def make_env(root: Path, with_project: bool) -> Path:
    """A venv under ``root`` seeing the bot's dependencies; the project installed when asked.
    Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "bot_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    if with_project:
        source = root.parent / f"{root.name}-source"
        for name in _PROJECT_FILES:  # a copy, as on another machine: the build never writes into the repo
            src = REPO / name
            if src.is_dir():
                shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                source.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, source / name)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--no-warn-script-location", str(source)],
                       check=True, capture_output=True, text=True)
    return python


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@dataclass
class Cluster:
    """A scheduler and its workers as subprocesses; ``stop()`` ends exactly these processes."""

    folder: Path
    address: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _spawn(self, python: Path, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        log = open(self.folder / log_name, "wb")  # noqa: SIM115 - closed with the process below
        proc = subprocess.Popen([str(python), "-m", "dask", *args], cwd=self.folder, env=_clean_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def start_scheduler(self, python: Path, timeout_s: float = 60.0) -> str:
        sched_file = self.folder / "scheduler.json"
        self._spawn(python, ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(sched_file)], "scheduler.log")
        deadline = time.monotonic() + timeout_s
        while not sched_file.exists() or not sched_file.read_text().strip():
            if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                raise RuntimeError("dask scheduler did not start: " + self.log("scheduler.log"))
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        return self.address

    def start_worker(self, python: Path, name: str, nthreads: int = 1) -> subprocess.Popen[bytes]:
        return self._spawn(python, ["worker", self.address, "--host", "127.0.0.1", "--nthreads", str(nthreads),
                                    "--no-nanny", "--no-dashboard", "--name", name,
                                    "--local-directory", str(self.folder / f"work-{name}")], f"{name}.log")

    def stop_worker(self, proc: subprocess.Popen[bytes]) -> None:
        _end(proc)
        self.procs.remove(proc)

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in reversed(self.procs):
            _end(proc)
        self.procs.clear()


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
