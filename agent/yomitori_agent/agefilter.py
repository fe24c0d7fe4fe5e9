"""age as a filter in a child process, the way ``tar c | age -r R`` and ``age -d | tar x``
split the work:

    python -m yomitori_agent.agefilter encrypt RECIPIENT...   plaintext on stdin -> ciphertext on stdout
    python -m yomitori_agent.agefilter decrypt PACKAGE        identities on stdin, one per line
                                                              -> authenticated plaintext on stdout

Why a process and not a thread: ``pyrage`` holds the GIL for the whole of ``encrypt_io`` and
``decrypt_io``, so in a thread it stalls the hashing, file and read-back threads (each of them
waits a switch interval every time it needs the GIL back). In its own process it runs on the
other core, and the parent's threads spend their time in system calls and in ``hashlib``,
which release the GIL.

Exit status 0 only if everything was encrypted, or the whole package authenticated (final
STREAM chunk included); otherwise 2 and one line on stderr. On a failed decryption the
plaintext released so far (every chunk of it authenticated) is still flushed to stdout: the
caller decides what to keep. Only the standard library and pyrage are imported, so the child
starts in a few tens of milliseconds.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

_BUF = 1 << 20
_PIPE_SIZE = 1 << 20  # Linux: fewer, larger pipe transfers (the default is 64 KiB)


def spawn(*args: str) -> subprocess.Popen:
    """Start the filter (``encrypt RECIPIENT...`` or ``decrypt PACKAGE``) with pipes on stdin,
    stdout and stderr. The caller writes stdin and reads stdout to the end (or kills the child),
    then calls :func:`finish` for the outcome."""
    proc = subprocess.Popen([sys.executable, "-m", "yomitori_agent.agefilter", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        import fcntl

        for pipe in (proc.stdin, proc.stdout):
            fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # Windows, or a system limit below 1 MiB: the default size works, a little slower
    return proc


def finish(proc: subprocess.Popen) -> str | None:
    """Wait for the child and close its pipes. None if it succeeded, else its one-line reason."""
    proc.wait()
    text = ""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        try:
            if pipe is proc.stderr and proc.returncode != 0:
                text = pipe.read(4096).decode("utf-8", "replace").strip()
            pipe.close()
        except (OSError, ValueError):
            pass  # already closed, or broken: nothing more to learn from it
    return None if proc.returncode == 0 else (text or f"exit status {proc.returncode}")


def _stdout() -> io.BufferedWriter:
    return io.BufferedWriter(io.FileIO(sys.stdout.fileno(), "wb", closefd=False), buffer_size=_BUF)


# Where the standard streams have names, pyrage's *_file functions move the bytes in Rust; its
# *_io functions call back into Python for every few KiB (a quarter more CPU time, measured).
# (YOMITORI_AGEFILTER_PORTABLE=1 takes the *_io path everywhere, for tests.)
_STD_PATHS = (os.path.exists("/dev/stdin") and os.path.exists("/dev/stdout")
              and not os.environ.get("YOMITORI_AGEFILTER_PORTABLE"))


def _encrypt(recipients: list[str]) -> None:
    import pyrage

    keys = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
    if _STD_PATHS:
        pyrage.encrypt_file("/dev/stdin", "/dev/stdout", keys)
        return
    src = io.BufferedReader(io.FileIO(sys.stdin.fileno(), "rb", closefd=False), buffer_size=_BUF)
    out = _stdout()
    pyrage.encrypt_io(src, out, keys)
    out.flush()


def _decrypt(package: str) -> None:
    import pyrage

    identities = [pyrage.x25519.Identity.from_str(line.strip())
                  for line in sys.stdin.read().splitlines() if line.strip()]
    if _STD_PATHS:  # unbuffered: what pyrage released (authenticated) is in the pipe already
        pyrage.decrypt_file(package, "/dev/stdout", identities)
        return
    out = _stdout()
    try:
        with open(package, "rb", buffering=_BUF) as src:
            pyrage.decrypt_io(src, out, identities)
    finally:
        out.flush()  # what pyrage released was authenticated; the parent decides what to keep


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["encrypt"]:
            _encrypt(argv[1:])
        elif argv[:1] == ["decrypt"] and len(argv) == 2:
            _decrypt(argv[1])
        else:
            print("usage: agefilter encrypt RECIPIENT... | agefilter decrypt PACKAGE", file=sys.stderr)
            return 2
    except BrokenPipeError:
        return 2  # the parent stopped reading (it rejected the content or was interrupted)
    except Exception as e:  # one line for the parent, which turns it into an agent error
        print(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
