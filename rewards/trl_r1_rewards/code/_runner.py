"""The in-sandbox half of the local sandbox: runs one program against all its test cases.

Started by :mod:`trl_r1_rewards.code.sandbox` as ``python -S -I -B _runner.py``, usually as PID 1
of fresh namespaces with a clean environment; one job in on stdin, results out on stdout, both
:mod:`marshal`-encoded (see :func:`main`). Standard library only: this file runs as a script,
outside the package, and must start fast.
"""

import marshal
import os
import resource
import select
import signal
import sys
import time

STDERR_KEEP = 4096  # bytes of stderr kept for diagnostics
CHUNK = 65536

# mount(2) flags
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_NOATIME, MS_NODIRATIME, MS_REMOUNT, MS_BIND = 1024, 2048, 32, 4096
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
_KEPT_FLAGS = {
    "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME,
}


def _mount(source, target, fstype, flags, data=None):
    import ctypes  # only when mounting: keeps the no-mount path import-free

    libc = ctypes.CDLL(None, use_errno=True)
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    if libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _unescape(path):
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    return path.encode("latin-1").decode("unicode_escape") if "\\" in path else path


def make_root_readonly(workdir, size_bytes):
    """Remount every mount of this (private) mount namespace read-only, then mount a fresh,
    size-capped tmpfs on ``workdir``: the only place a program can write."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        target, options = _unescape(fields[4]), fields[5].split(",")
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= _KEPT_FLAGS.get(option, 0)
        try:
            _mount(None, target, None, flags)
        except OSError:
            if os.path.exists(target):  # a mount shadowed by a later one is unreachable anyway
                raise
    _mount("tmpfs", workdir, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_bytes},mode=0700")


def _limits(job, compiling):
    memory = job["compile_memory_bytes"] if compiling else job["memory_bytes"]
    cpu = int(job["compile_wall_s" if compiling else "cpu_s"]) + 1
    limits = [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),  # SIGXCPU at the soft limit, SIGKILL one second later
        (resource.RLIMIT_AS, (memory, memory)),
        (resource.RLIMIT_FSIZE, (job["file_bytes"], job["file_bytes"])),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NOFILE, (256, 256)),
    ]
    if job["uid"] is not None:  # RLIMIT_NPROC counts per uid and never binds root
        limits.append((resource.RLIMIT_NPROC, (job["nproc"], job["nproc"])))
    return limits


def _child(argv, job, stdin_fd, out_w, err_w, compiling):
    """In the forked child: become the program. Never returns."""
    try:
        os.setpgid(0, 0)
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 65536)
        for kind, value in _limits(job, compiling):
            resource.setrlimit(kind, value)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        uid = job["uid"]
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        os.chdir(job["workdir"])
        os.execve(argv[0], argv, job["env"])
    except BaseException:  # noqa: BLE001 - nothing may escape a forked child
        pass
    os._exit(127)


def _kill_all(job, pgid):
    """Send SIGKILL to every process the program may have started."""
    if job["pid_namespace"]:
        try:  # the runner is init of the namespace: kill(-1) reaches every other process in it
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if job["uid"] is not None:  # everything running as the sandbox uid, detached or not
        killer = os.fork()
        if killer == 0:
            try:
                os.setresuid(job["uid"], job["uid"], job["uid"])
                os.kill(-1, signal.SIGKILL)
            except BaseException:  # noqa: BLE001
                pass
            os._exit(0)
        os.waitpid(killer, 0)


def _reap():
    """Reap dead children; True when none is left (orphans are ours too: we are init or a
    child subreaper)."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                return False
        except ChildProcessError:
            return True


def kill_leftovers(job, pgid):
    """Kill every process the program started, detached ones included, and reap them.

    Repeated until none is left: a process caught mid-fork can bring a new one into the world.
    Without a PID namespace or a uid of its own, a process that left the program's process
    group cannot be told apart from the rest of the machine: it is left alone.
    """
    contained = job["pid_namespace"] or job["uid"] is not None
    for _ in range(1000 if contained else 1):
        _kill_all(job, pgid)
        if _reap():
            return
        time.sleep(0.001)


def become_subreaper():
    """Adopt the orphans of the program (PR_SET_CHILD_SUBREAPER), so they can be reaped."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)


def run_one(argv, stdin_bytes, job, compiling=False):
    """Run ``argv`` once with ``stdin_bytes`` as stdin; return its result dict."""
    stdin_fd = os.memfd_create("stdin")
    os.write(stdin_fd, stdin_bytes)
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(argv, job, stdin_fd, out_w, err_w, compiling)
    for fd in (stdin_fd, out_w, err_w):
        os.close(fd)

    wall = job["compile_wall_s"] if compiling else job["wall_s"]
    deadline = start + wall
    cap = job["output_bytes"]
    out, err = [], []
    out_len = err_len = 0
    status = None
    poller = select.poll()
    for fd in (out_r, err_r):
        poller.register(fd, select.POLLIN | select.POLLHUP)
    open_fds = {out_r, err_r}
    exit_status = None
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status = "timeout"
            break
        events = poller.poll(min(remaining, 0.1) * 1000)
        if not events:
            # The program exited but something it left behind still holds the pipes open.
            done, exit_status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            continue
        for fd, _ in events:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                poller.unregister(fd)
                open_fds.discard(fd)
            elif fd == out_r:
                out.append(chunk)
                out_len += len(chunk)
                if out_len > cap:
                    status = "output_limit"
            elif err_len < STDERR_KEEP:
                err.append(chunk)
                err_len += len(chunk)
        if status:
            break
    if exit_status is None and status is None:
        remaining = max(deadline - time.monotonic(), 0.0)
        while True:  # pipes closed: the program is exiting; wait for it within the deadline
            done, exit_status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() - start > wall:
                status, exit_status = "timeout", None
                break
            time.sleep(min(0.001, remaining))
    seconds = time.monotonic() - start
    os.close(out_r)
    os.close(err_r)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if exit_status is None:
        try:
            _, exit_status = os.waitpid(pid, 0)
        except ChildProcessError:
            exit_status = None
    kill_leftovers(job, pid)

    exit_code = None
    if exit_status is not None:
        exit_code = os.waitstatus_to_exitcode(exit_status)
    if status is None:
        if exit_code in (-signal.SIGXCPU, -signal.SIGKILL) and seconds >= job["cpu_s"] * 0.9:
            status = "timeout"  # the CPU-time limit fired
        elif exit_code == 0:
            status = "ok"
        else:
            status = "compile_error" if compiling else "runtime_error"
    return {
        "status": status,
        "exit_code": exit_code,
        "stdout": b"".join(out)[:cap],
        "stderr": b"".join(err)[:STDERR_KEEP],
        "seconds": seconds,
    }


def _error(message, n):
    result = {"status": "sandbox_error", "exit_code": None, "stdout": b"", "stderr": message.encode(), "seconds": 0.0}
    return {"compile": None, "tests": [result] * n}


def main():
    """Read one job, run it, write the results.

    Job (a dict): ``workdir``, ``files`` {name: bytes}, ``compile`` argv or None, ``run`` argv,
    ``inputs`` [bytes], ``env``, ``uid`` (int or None: drop to it for every program process),
    ``pid_namespace`` (bool), ``readonly_root`` (bool: remount every mount read-only and put a
    size-capped tmpfs on ``workdir``), and the limits ``wall_s``, ``cpu_s``, ``memory_bytes``,
    ``output_bytes``, ``nproc``, ``file_bytes``, ``compile_wall_s``, ``compile_memory_bytes``.

    Results: {"compile": result or None, "tests": [result, ...]}, a result being {"status",
    "exit_code", "stdout", "stderr", "seconds"} with status ``ok``, ``runtime_error``,
    ``timeout``, ``output_limit``, ``compile_error`` or ``sandbox_error``. Each program process
    runs in its own process group under rlimits, as ``uid``, stdin from a memfd, output read
    incrementally and capped; after each one, everything it left behind is killed (as init of a
    PID namespace, ``kill(-1)`` reaches detached processes too).
    """
    job = marshal.load(sys.stdin.buffer)
    n = len(job["inputs"])
    try:
        if not job["pid_namespace"]:
            become_subreaper()
        if job["readonly_root"]:
            make_root_readonly(job["workdir"], job["file_bytes"])
        for name, content in job["files"].items():
            path = os.path.join(job["workdir"], name)
            with open(path, "wb") as f:
                f.write(content)
        if job["uid"] is not None:
            os.chown(job["workdir"], job["uid"], job["uid"])
    except OSError as e:  # fail closed: never run a program with a layer missing
        output = _error(f"sandbox setup failed: {e}", n)
    else:
        output = {"compile": None, "tests": []}
        if job["compile"]:
            output["compile"] = run_one(job["compile"], b"", job, compiling=True)
        if output["compile"] and output["compile"]["status"] != "ok":
            failed = dict(output["compile"], status="compile_error")
            output["tests"] = [failed] * n
        else:
            output["tests"] = [run_one(job["run"], data, job) for data in job["inputs"]]
    sys.stdout.buffer.write(marshal.dumps(output))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
