"""Hostile programs: each scores 0.0 (or proves it was contained), and the host is untouched.

Every test goes through the reward (``score`` fixture), which also asserts that no process
running as a sandbox uid is left on the host afterwards.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from trl_r1_rewards.code import LocalSandbox


def requires(*layers: str):
    """Skip a test on machines where the sandbox cannot enable these isolation layers."""
    iso = LocalSandbox.isolation()
    missing = [layer for layer in layers if not getattr(iso, layer)]
    return pytest.mark.skipif(bool(missing), reason=f"isolation layer(s) unavailable here: {', '.join(missing)}")


def test_infinite_loop_times_out(score):
    start = time.monotonic()
    assert score("while True: pass", [("", "x"), ("", "x")]) == 0.0
    assert time.monotonic() - start < 5


def test_sleeping_forever_times_out_on_wall_clock(score):
    start = time.monotonic()
    assert score("import time; time.sleep(3600)", [("", "x")]) == 0.0
    assert time.monotonic() - start < 4


def test_fork_bomb_is_contained(score):
    program = """
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    assert score(program, [("", "x")]) == 0.0
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_memory_bomb_is_contained(score):
    program = """
        hog = []
        while True:
            hog.append(bytearray(50 * 1024 * 1024))
    """
    assert score(program, [("", "x")]) == 0.0
    assert score("x = bytearray(10 ** 11)", [("", "x")]) == 0.0


def test_memory_bomb_never_grows_past_the_limit():
    # Measured in a fresh interpreter: RUSAGE_CHILDREN is the peak over every child a process
    # ever reaped, and the test session's own children (training runs) are bigger than the bomb
    # may get.
    script = textwrap.dedent("""
        import resource
        from trl_r1_rewards.code import CodeReward
        bomb = "<think>x</think>\\n```python\\nhog = []\\nwhile True:\\n    hog.append(bytearray(50 * 2**20))\\n```"
        honest = "<think>x</think>\\n```python\\nblock = bytearray(150 * 2**20)\\nblock[::4096] = b'1' * len(block[::4096])\\nprint('x')\\n```"
        reward = CodeReward(timeout=2.0, memory_mb=256, max_workers=1)
        for completion in (honest, bomb):
            print(reward(prompts=["q"], completions=[completion], test_cases=[[{"input": "", "output": "x"}]])[0])
            print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    honest_reward, honest_peak, bomb_reward, bomb_peak = result.stdout.split()
    # The control proves the measurement sees sandboxed programs: 150 MiB touched and counted.
    assert float(honest_reward) == 1.0 and int(honest_peak) > 140 * 1024
    assert float(bomb_reward) == 0.0
    assert int(bomb_peak) < 300 * 1024, f"a sandboxed process reached {int(bomb_peak) // 1024} MiB"


@requires("readonly_fs")
def test_files_outside_the_sandbox_are_untouched(score, tmp_path):
    # World-writable on purpose: only the sandbox, not file permissions, protects them.
    tmp_path.chmod(0o777)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o666)
    stray = f"/tmp/trl_r1_escape_{uuid.uuid4().hex}"
    program = f"""
        import os, shutil
        attempts = [
            lambda: open({str(victim)!r}, "w").write("pwned"),
            lambda: os.remove({str(victim)!r}),
            lambda: open({str(tmp_path / "new.txt")!r}, "w").write("new"),
            lambda: open({stray!r}, "w").write("new"),
            lambda: open("/dev/shm/trl_r1_escape", "w").write("new"),
            lambda: shutil.rmtree({str(tmp_path)!r}),
        ]
        for attempt in attempts:
            try:
                attempt()
            except OSError:
                pass
        open("inside.txt", "w").write("its own directory is writable")
        print(open("inside.txt").read())
    """
    assert score(program, [("", "its own directory is writable")]) == 1.0
    assert victim.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.txt"]
    assert not os.path.exists(stray) and not os.path.exists("/dev/shm/trl_r1_escape")


@requires("namespaces")
def test_no_network(score):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.3)
        port = server.getsockname()[1]
        program = f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=0.5)
                print("connected")
            except OSError:
                print("blocked")
        """
        assert score(program, [("", "blocked")]) == 1.0
        with pytest.raises(TimeoutError):
            server.accept()


def test_killing_the_parent_and_everything_else(reward):
    hostile = """```python
import os, signal
for target in (int(input()), os.getppid(), os.getpgid(0), 1, -1):
    for kill in (os.kill, os.killpg):
        try:
            kill(target, signal.SIGKILL)
        except (OSError, ValueError):
            pass
print("still here")
```"""
    honest = "```python\nprint(int(input()) * 2)\n```"
    pid = str(os.getpid())
    rewards = reward(
        prompts=["q"] * 3,
        completions=[hostile, honest, hostile],
        test_cases=[[{"input": pid, "output": "x"}], [{"input": "21", "output": "42"}], [{"input": pid, "output": "x"}]],
    )
    assert rewards == [0.0, 1.0, 0.0]  # we are alive, and the rest of the batch was scored


def test_detached_process_is_killed(score, tmp_path):
    tmp_path.chmod(0o777)
    marker = tmp_path / "marker"
    program = f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(1.5)
                try:
                    open({str(marker)!r}, "w").write("survived")
                finally:
                    os._exit(0)
            os._exit(0)
        print("bye")
    """
    assert score(program, [("", "bye")]) == 1.0  # `score` asserts no sandbox process is left
    time.sleep(2)
    assert not marker.exists()


def test_stdout_flood_is_cut_off_without_buffering_it(score):
    start = time.monotonic()
    program = """
        import sys
        chunk = "x" * 65536
        while True:
            sys.stdout.write(chunk)
            sys.stderr.write(chunk)
    """
    assert score(program, [("", "x")]) == 0.0
    assert time.monotonic() - start < 2  # stopped at the cap, not at the timeout
    # Whoever reads the flood (the in-sandbox runner, then this process) keeps at most the cap:
    # measured as in test_memory_bomb_never_grows_past_the_limit, in a fresh interpreter.
    script = textwrap.dedent("""
        import resource
        from trl_r1_rewards.code import CodeReward
        flood = "```python\\nimport sys\\nwhile True:\\n    sys.stdout.write('x' * 65536)\\n```"
        reward = CodeReward(timeout=5.0, max_workers=1)
        print(reward(prompts=["q"], completions=[flood], test_cases=[[{"input": "", "output": "x"}]])[0])
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    """)
    # (Only the children's peak means something: a process keeps its parent's peak across
    # fork + exec, so this interpreter's own starts at the test session's.)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    reward, children_peak = result.stdout.split()
    assert float(reward) == 0.0
    assert int(children_peak) < 150 * 1024, result.stdout  # KiB


def test_environment_does_not_leak(score, monkeypatch):
    monkeypatch.setenv("TRL_R1_SECRET_TOKEN", "hunter2")
    program = """
        import os
        print(os.environ.get("TRL_R1_SECRET_TOKEN"))
    """
    assert score(program, [("", "None")]) == 1.0
    results = LocalSandbox().run("import os\nprint(dict(os.environ))\nprint(open('/proc/1/environ').read())", "python", [""])
    assert "hunter2" not in results[0].stdout + results[0].stderr


def test_sandbox_runs_unprivileged_and_isolated():
    iso = LocalSandbox.isolation()
    program = "import os\nprint(os.getuid(), os.getpid(), os.listdir('/proc')[:0])"
    (result,) = LocalSandbox().run(program, "python", [""])
    assert result.status == "ok"
    uid, pid = map(int, result.stdout.split()[:2])
    if iso.uid:
        assert uid != 0
    if iso.namespaces:
        assert pid < 10  # a fresh PID namespace: the runner is 1, the program right after it


def test_a_bomb_does_not_disturb_programs_running_beside_it(reward):
    fork_bomb = "```python\nimport os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n```"
    honest = "```python\nimport subprocess\nprint(subprocess.run(['echo', input()], capture_output=True, text=True).stdout)\n```"
    tests = [{"input": "hi", "output": "hi"}]
    rewards = reward(prompts=["q"] * 4, completions=[fork_bomb, honest, fork_bomb, honest], test_cases=[tests] * 4)
    assert rewards == [0.0, 1.0, 0.0, 1.0]
