"""The local sandbox: run untrusted programs on this Linux machine with OS-level isolation.

One :meth:`LocalSandbox.run` call runs one program on all its test cases: ``unshare`` starts
:mod:`._runner` as PID 1 of fresh PID, mount, network, IPC and UTS namespaces, which runs the
program once per test as an unprivileged uid under rlimits on a read-only filesystem with a
small writable tmpfs. The isolation layers, what each stops and what it needs are in
rewards/README.md, "The sandbox"; each unavailable layer is logged once.
"""

from __future__ import annotations

import logging
import marshal
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from .languages import Language, get_language
from .providers import RunResult, SandboxError

logger = logging.getLogger(__name__)

RUNNER = Path(__file__).with_name("_runner.py")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
_NAMESPACE_FLAGS = ("--fork", "--kill-child", "--pid", "--mount", "--mount-proc", "--net", "--ipc", "--uts")
_UID_BASE = 1_000_000  # sandbox uids: see sandbox_uids()
_UIDS_PER_PROCESS = 256


@dataclass(frozen=True)
class Isolation:
    """Which isolation layers the sandbox uses (see the module docstring)."""

    uid: bool
    namespaces: bool
    readonly_fs: bool
    map_root_user: bool = False  # not root: namespaces through a user namespace instead

    def describe(self) -> str:
        on = [name for name in ("uid", "namespaces", "readonly_fs") if getattr(self, name)]
        return "rlimits, " + ", ".join(on) if on else "rlimits"


@dataclass(frozen=True)
class Limits:
    """Per-program limits. Wall-clock and CPU time are per test case."""

    wall_s: float = 5.0
    cpu_s: float = 4.0
    memory_mb: int = 512
    output_bytes: int = 1 << 20
    nproc: int = 32
    file_mb: int = 64
    compile_wall_s: float = 30.0
    compile_memory_mb: int = 2048


class LocalSandbox:
    """Runs programs on this machine, isolated; the default :class:`~.providers.Provider`.

    Thread-safe: the reward calls :meth:`run` from its worker threads. Each running invocation
    has a uid of its own (from a process-wide pool of 256), so RLIMIT_NPROC, which counts per
    uid, is per invocation (a fork bomb in one cannot starve another), and no invocation can
    signal another's processes.
    """

    _isolation: Isolation | None = None
    _detect_lock = threading.Lock()
    _uid_pools: dict[int, queue.Queue[int]] = {}

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or Limits()

    @classmethod
    def _free_uids(cls) -> queue.Queue[int]:
        """This process's pool of sandbox uids, shared by every instance (keyed by pid: a
        forked child gets uids of its own)."""
        with cls._detect_lock:
            return cls._uid_pools.setdefault(os.getpid(), _queue_of(sandbox_uids()))

    # -- isolation detection -------------------------------------------------------------
    @classmethod
    def isolation(cls) -> Isolation:
        """The layers this machine supports, probed once per process and logged once."""
        with cls._detect_lock:
            if cls._isolation is None:
                cls._isolation = _detect_isolation()
        return cls._isolation

    # -- running ---------------------------------------------------------------------------
    def run(self, program: str, language: str | Language, tests: list[str]) -> list[RunResult]:
        """Run ``program`` once per stdin text in ``tests``; one :class:`RunResult` each.

        Raises :class:`SandboxError` only when the sandbox itself failed (never because of
        what the program did).
        """
        lang = get_language(language) if isinstance(language, str) else language
        iso = self.isolation()
        free_uids = self._free_uids()
        uid = free_uids.get()  # one uid per running invocation
        try:
            return self._run(program, lang, tests, iso, uid)
        finally:
            free_uids.put(uid)

    def _run(self, program: str, lang: Language, tests: list[str], iso: Isolation, uid: int) -> list[RunResult]:
        workdir = tempfile.mkdtemp(prefix="trl_r1_code_")
        try:
            job = self._job(program, lang, tests, iso, uid, workdir)
            output = _invoke_runner(job, iso, timeout=self._deadline(lang, len(tests)))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return [_result(r) for r in output["tests"]]

    def _deadline(self, lang: Language, n_tests: int) -> float:
        compile_s = self.limits.compile_wall_s if lang.compile else 0.0
        return 10.0 + compile_s + n_tests * (self.limits.wall_s + 0.5)

    def _job(self, program: str, lang: Language, tests: list[str], iso: Isolation, uid: int, workdir: str) -> dict:
        lim = self.limits
        return {
            "workdir": workdir,
            "files": {lang.source_file: program.encode("utf-8", errors="replace")},
            "compile": _argv(lang.compile) if lang.compile else None,
            "run": _argv(lang.run),
            "inputs": [t.encode("utf-8", errors="replace") for t in tests],
            "env": {"PATH": SANDBOX_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"},
            "uid": uid if iso.uid else None,
            "pid_namespace": iso.namespaces,
            "readonly_root": iso.readonly_fs,
            "wall_s": float(lim.wall_s),
            "cpu_s": float(lim.cpu_s),
            "memory_bytes": lim.memory_mb << 20,
            "output_bytes": int(lim.output_bytes),
            "nproc": int(lim.nproc),
            "file_bytes": lim.file_mb << 20,
            "compile_wall_s": float(lim.compile_wall_s),
            "compile_memory_bytes": lim.compile_memory_mb << 20,
        }


def _argv(command: tuple[str, ...]) -> list[str]:
    """Resolve the program name against the sandbox's PATH (the runner calls execve)."""
    head = command[0]
    if "/" not in head:
        head = shutil.which(head, path=SANDBOX_PATH) or head
    return [head, *command[1:]]


def _runner_command(iso: Isolation) -> list[str]:
    runner = [sys.executable, "-S", "-I", "-B", str(RUNNER)]
    if not iso.namespaces:
        return runner
    unshare = ["unshare", *_NAMESPACE_FLAGS] + (["--map-root-user"] if iso.map_root_user else [])
    return unshare + runner


def _invoke_runner(job: dict, iso: Isolation, timeout: float) -> dict:
    """Start the runner (inside the namespaces), hand it the job, return its decoded output."""
    proc = subprocess.Popen(
        _runner_command(iso),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PATH": SANDBOX_PATH},  # nothing of the trainer's environment goes in
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(marshal.dumps(job), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise SandboxError(f"sandbox runner still running after {timeout:.0f} s; killed") from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    try:
        output = marshal.loads(out)
        output["tests"]  # noqa: B018 - shape check
    except Exception as e:  # noqa: BLE001 - a dead runner leaves nothing (or garbage)
        raise SandboxError(f"sandbox runner failed (exit {proc.returncode}): {err[-2000:].decode(errors='replace')}") from e
    return output


def _kill_group(proc: subprocess.Popen) -> None:
    # The runner is PID 1 of its namespace and unshare runs with --kill-child: killing the
    # group takes the whole namespace with it.
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
    proc.wait()


def _result(raw: dict) -> RunResult:
    return RunResult(
        status=raw["status"],
        stdout=raw["stdout"].decode("utf-8", errors="replace"),
        stderr=raw["stderr"].decode("utf-8", errors="replace"),
        exit_code=raw["exit_code"],
        seconds=raw["seconds"],
    )


def _queue_of(items) -> queue.Queue:
    q: queue.Queue = queue.Queue()
    for item in items:
        q.put(item)
    return q


def sandbox_uids() -> range:
    """The uids this process's sandboxes run as: one per worker slot, distinct per process
    (several trainer processes on one node must not share them), far above real accounts."""
    base = _UID_BASE + (os.getpid() % 1_000_000) * _UIDS_PER_PROCESS
    return range(base, base + _UIDS_PER_PROCESS)


# -- detection ---------------------------------------------------------------------------------
def _namespaces_work(map_root_user: bool) -> bool:
    if shutil.which("unshare") is None:
        return False
    cmd = ["unshare", *_NAMESPACE_FLAGS] + (["--map-root-user"] if map_root_user else []) + ["true"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _smoke_test(iso: Isolation) -> bool:
    """Run a tiny program end to end with these layers; True when it printed what it read."""
    sandbox = LocalSandbox(Limits(wall_s=10, cpu_s=5))
    try:
        results = sandbox._run("print(input())", get_language("python"), ["ok"], iso, sandbox_uids()[0])
    except SandboxError as e:
        logger.debug("sandbox smoke test with %s failed: %s", iso, e)
        return False
    return results[0].status == "ok" and results[0].stdout.strip() == "ok"


def _detect_isolation() -> Isolation:
    root = os.geteuid() == 0
    map_root_user = False
    namespaces = root and _namespaces_work(False)
    if not namespaces:
        namespaces = map_root_user = _namespaces_work(True)
    # Under --map-root-user only our own uid is mapped: there is no other uid to drop to.
    candidates = [Isolation(uid=root and not map_root_user, namespaces=namespaces, readonly_fs=namespaces, map_root_user=map_root_user)]
    if namespaces:
        candidates.append(replace(candidates[0], readonly_fs=False))
        candidates.append(Isolation(uid=root, namespaces=False, readonly_fs=False))
    for iso in candidates:
        if _smoke_test(iso):
            break
    else:
        iso = Isolation(uid=False, namespaces=False, readonly_fs=False)
    _log_isolation(iso, root, namespaces)
    return iso


def _log_isolation(iso: Isolation, root: bool, namespaces_probe: bool) -> None:
    logger.info("code sandbox isolation layers: %s", iso.describe())
    if not iso.uid:
        logger.warning(
            "code sandbox: programs run as this process's own uid (%s): %s", os.geteuid(),
            "root is needed to switch to an unprivileged uid" if not root else "user namespace maps only one uid",
        )
    if not iso.namespaces:
        logger.warning(
            "code sandbox: no namespaces (%s): programs can use the network and see host processes, "
            "and detached processes are killed by %s only",
            "`unshare` failed" if not namespaces_probe else "sandbox smoke test failed with them",
            "uid" if iso.uid else "process group",
        )
    if not iso.readonly_fs:
        logger.warning(
            "code sandbox: filesystem not read-only: programs can write wherever %s can",
            "the sandbox uid" if iso.uid else "this process",
        )
