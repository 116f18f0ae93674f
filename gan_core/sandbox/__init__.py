"""The sandboxed runner: participant generators run only in a locked-down child process.

The calling process (a Celery worker, the ``check`` command) never opens a participant's model.
It inspects the checkpoint header (safe, :func:`gan_core.checkpoints.inspect_checkpoint`), then
starts ``python -m gan_core.runner_child`` inside bubblewrap with:

- namespaces: no network (``--unshare-all``: net, pid, ipc, uts, cgroup, and user where the
  worker is not root), ``--die-with-parent``, ``--new-session``;
- a read-only view of only what it needs: ``/usr`` and the loader's ``/lib*`` links, the
  interpreter, the virtual environment, the ``gan_core`` package (not the repository around it,
  so no ``var/``, no settings), the checkpoint and the content images; ``--tmpfs /tmp`` of bounded
  size, a minimal ``/dev`` and ``/proc``, one writable output folder. The host's ``/run``, ``/tmp``,
  ``/etc`` and home directories are never bound;
- ``--clearenv``: the child sees only ``PATH``, ``HOME=/tmp``, ``PYTHONPATH``, ``LANG`` and
  thread counts (no ``DATABASE_URL``, ``REDIS_URL``, secrets);
- no capabilities and an unprivileged uid (65534): as root, bubblewrap keeps only
  ``CAP_SETUID``/``CAP_SETGID`` and the child drops to uid/gid 65534 (losing both) before it
  opens anything the participant sent; as a normal user, a user namespace maps uid 65534;
- limits set before ``exec`` (so bubblewrap and the model inherit them): memory through a cgroup
  (v2 or v1, whichever this host has and lets us write) or, on CPU only, ``RLIMIT_AS`` (it breaks
  CUDA, which reserves huge address ranges); process count (cgroup ``pids`` and ``RLIMIT_NPROC``);
  ``RLIMIT_CPU``; ``RLIMIT_FSIZE``; ``RLIMIT_NOFILE``; ``RLIMIT_CORE = 0``; a wall-clock kill of the
  whole process group (and every task of the cgroup); a cap on the total size of the outputs.

The child reports JSON lines on a private pipe (``ready``, ``progress``, ``result`` or ``error``
with a code and a participant-safe message) and writes PNGs into the output folder; this
(trusted) side re-validates every output file before returning it.

Where bubblewrap is missing or does not work, ``ATELIER_SANDBOX=required`` refuses every run
with ``sandbox_unavailable``; otherwise safetensors checkpoints (no code path in them) still run
in a plain child process with the same limits, and ONNX models are refused. Whether bubblewrap works is
checked once and remembered when it did; a failed check is tried again after
:data:`~gan_core.sandbox.command.RECHECK_FAILED_SECONDS`, so a moment's failure does not change every
later run of a worker.

The package: :mod:`~gan_core.sandbox.records` (settings, modes, the error and the run records),
:mod:`~gan_core.sandbox.limits` (limits and the rlimits set before ``exec``),
:mod:`~gan_core.sandbox.cgroups` (per-run cgroups), :mod:`~gan_core.sandbox.command` (isolation
discovery and the bubblewrap command), :mod:`~gan_core.sandbox.child` (running one child),
:mod:`~gan_core.sandbox.outputs` (the output mount and the re-validation of outputs) and
:mod:`~gan_core.sandbox.runs` (generator runs and validation). Import the names from here.
"""

from gan_core.sandbox.cgroups import MemoryEnforcement, memory_enforcement
from gan_core.sandbox.child import run_in_sandbox
from gan_core.sandbox.command import _bubblewrap_works as _bubblewrap_works  # private; the tests use it
from gan_core.sandbox.command import (
    code_root,
    find_bubblewrap,
    isolation_mode,
    python_paths,
    sandbox_command,
    sandbox_policy,
)
from gan_core.sandbox.limits import ADDRESS_SPACE_HEADROOM, SandboxLimits, tasks_owned_by
from gan_core.sandbox.outputs import _is_output_mount as _is_output_mount  # private; the tests use it
from gan_core.sandbox.outputs import _validated_outputs as _validated_outputs  # private; the tests use it
from gan_core.sandbox.records import (
    BWRAP_ENVIRONMENT_VARIABLE,
    INPUT_MOUNT,
    JOB_MOUNT,
    OUTPUT_MOUNT,
    RUNNER_MODULE,
    SANDBOX_ENVIRONMENT_VARIABLE,
    SANDBOX_GID,
    SANDBOX_UID,
    ChildOutcome,
    IsolationMode,
    RawOutputMode,
    RunMode,
    RunResult,
    SandboxError,
    SandboxPolicy,
    ValidationReport,
)
from gan_core.sandbox.runs import outcome_result, run_generator, validate_checkpoint

__all__ = [
    "ADDRESS_SPACE_HEADROOM",
    "BWRAP_ENVIRONMENT_VARIABLE",
    "INPUT_MOUNT",
    "JOB_MOUNT",
    "OUTPUT_MOUNT",
    "RUNNER_MODULE",
    "SANDBOX_ENVIRONMENT_VARIABLE",
    "SANDBOX_GID",
    "SANDBOX_UID",
    "ChildOutcome",
    "IsolationMode",
    "MemoryEnforcement",
    "RawOutputMode",
    "RunMode",
    "RunResult",
    "SandboxError",
    "SandboxLimits",
    "SandboxPolicy",
    "ValidationReport",
    "code_root",
    "find_bubblewrap",
    "isolation_mode",
    "memory_enforcement",
    "outcome_result",
    "python_paths",
    "run_generator",
    "run_in_sandbox",
    "sandbox_command",
    "sandbox_policy",
    "tasks_owned_by",
    "validate_checkpoint",
]
