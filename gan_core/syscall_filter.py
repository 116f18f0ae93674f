"""The seccomp filter of the generator sandbox: the kernel calls a generator never needs, denied.

A generator reads a checkpoint and some images, computes, and writes PNGs: it needs files,
memory, threads and time, never the kernel's administrative surface. The filter allows every
call by default and denies, with ``EPERM``, the calls in :data:`DENIED_SYSCALLS` (grouped by what
they would give an attacker), plus:

- ``clone`` with any ``CLONE_NEW*`` flag in its flags argument (a plain ``fork`` or thread still
  works), and ``clone3`` with ``ENOSYS``: its flags live in a struct a filter cannot read, and
  ``ENOSYS`` makes the C library fall back to ``clone``, which is filtered;
- ``personality`` with anything but the default persona (``PER_LINUX``, 0): no
  ``ADDR_NO_RANDOMIZE``, no ``READ_IMPLIES_EXEC``;
- ``ioctl`` ``TIOCSTI`` and ``TIOCLINUX`` (typing into, or reading, a terminal).

Calls through another architecture's system-call ABI (``int 0x80`` on x86-64, the x32 ABI)
kill the process, so the lists cannot be bypassed by a second syscall table.

The lists were drawn up after reading Docker's default seccomp profile, nsjail's and
Chromium's baseline policies, then cut to what a generator process can do without: it is not a
copy of any of them (Docker's default denies; this one allows by default and denies a list).

The filter is compiled with libseccomp through the ``pyseccomp`` binding and handed to
bubblewrap as a BPF program (``--seccomp FD``), so it covers the whole sandbox from its first
instruction. Where libseccomp or the binding is missing, :func:`compiled_filter` raises
:class:`SyscallFilterUnavailable`: the sandbox refuses to run rather than run without it.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile
from collections.abc import Mapping
from typing import Any

#: The errno a denied call returns (tests may build a filter with another, to tell the filter's
#: answer from the kernel's own).
DENIED_ERRNO = errno.EPERM

#: Denied system calls, by what they would give an untrusted generator.
DENIED_SYSCALLS: Mapping[str, tuple[str, ...]] = {
    "new namespaces (a user namespace gives a full capability set inside it)": ("unshare", "setns"),
    "mounts and the new mount API (change what the sandbox sees)": (
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
    ),
    "other processes' memory and descriptors": (
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "pidfd_getfd",
        "kcmp",
    ),
    "the kernel keyring (not namespaced)": ("keyctl", "add_key", "request_key"),
    "large kernel attack surface, frequent exploit vectors": (
        "bpf",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "fanotify_init",
    ),
    "kernel modules, kexec and reboot": (
        "init_module",
        "finit_module",
        "delete_module",
        "create_module",
        "query_module",
        "get_kernel_syms",
        "kexec_load",
        "kexec_file_load",
        "reboot",
    ),
    "host administration: swap, accounting, quotas, clocks, names, logs": (
        "swapon",
        "swapoff",
        "acct",
        "quotactl",
        "quotactl_fd",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "sethostname",
        "setdomainname",
        "syslog",
        "vhangup",
    ),
    "file handles that bypass path checks (open_by_handle_at escapes containers)": (
        "name_to_handle_at",
        "open_by_handle_at",
        "lookup_dcookie",
    ),
    "hardware and obsolete interfaces": (
        "iopl",
        "ioperm",
        "modify_ldt",
        "nfsservctl",
        "uselib",
        "ustat",
        "sysfs",
        "_sysctl",
        "afs_syscall",
        "tuxcall",
        "security",
    ),
}

#: ``CLONE_NEW*`` flags ``clone`` may not be given (``CLONE_NEWTIME`` is only taken by ``unshare``
#: and ``clone3``, both denied; in ``clone`` its bit is part of the exit signal).
CLONE_NAMESPACE_FLAGS: Mapping[str, int] = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
#: ``ioctl`` requests denied on any descriptor.
DENIED_IOCTLS: Mapping[str, int] = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}
#: The only persona ``personality`` may set.
PER_LINUX = 0


class SyscallFilterUnavailable(RuntimeError):
    """libseccomp or its ``pyseccomp`` binding is missing: no filter can be compiled here."""


def denied_names() -> tuple[str, ...]:
    """Every system call denied outright (all groups), in list order."""
    return tuple(name for names in DENIED_SYSCALLS.values() for name in names)


def _binding() -> Any:
    try:
        import pyseccomp
    except (ImportError, RuntimeError, OSError) as error:  # the binding raises RuntimeError without libseccomp
        raise SyscallFilterUnavailable(
            "The sandbox's system-call filter needs libseccomp and its Python binding: "
            "apt-get install libseccomp2 and pip install pyseccomp (see requirements.txt)."
        ) from error
    return pyseccomp


def build_filter(denied_errno: int | None = None) -> Any:
    """A ``pyseccomp.SyscallFilter`` (default allow) with the denials described in this module.

    ``denied_errno``: what denied calls return (default :data:`DENIED_ERRNO`, ``EPERM``).
    Raises :class:`SyscallFilterUnavailable` without libseccomp.
    """
    seccomp = _binding()
    code = DENIED_ERRNO if denied_errno is None else denied_errno
    deny = seccomp.ERRNO(code)
    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    rules.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    for name in denied_names():
        rules.add_rule(deny, name)  # a call this architecture lacks is ignored by libseccomp
    for flag in CLONE_NAMESPACE_FLAGS.values():
        # flags is the first argument of clone on x86-64 and arm64 (the architectures we run on)
        rules.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    rules.add_rule(deny, "personality", seccomp.Arg(0, seccomp.NE, PER_LINUX))
    for request in DENIED_IOCTLS.values():
        rules.add_rule(deny, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, request))
    return rules


@functools.lru_cache(maxsize=4)
def _compiled(denied_errno: int) -> bytes:
    rules = build_filter(denied_errno)
    with tempfile.TemporaryFile() as handle:
        rules.export_bpf(handle)
        handle.seek(0)
        return handle.read()


def compiled_filter(denied_errno: int | None = None) -> bytes:
    """The filter as a raw BPF program (``struct sock_filter`` array), the form ``bwrap --seccomp``
    reads. Raises :class:`SyscallFilterUnavailable` without libseccomp."""
    return _compiled(DENIED_ERRNO if denied_errno is None else denied_errno)


def filter_descriptor(denied_errno: int | None = None) -> int:
    """A new file descriptor (an anonymous file, offset 0) holding :func:`compiled_filter`; the
    caller passes it to bubblewrap and closes it after starting it."""
    program = compiled_filter(denied_errno)
    descriptor = os.memfd_create("atelier-seccomp", os.MFD_CLOEXEC)
    try:
        os.write(descriptor, program)
        os.lseek(descriptor, 0, os.SEEK_SET)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def available() -> bool:
    """Whether a filter can be compiled here (libseccomp and ``pyseccomp`` present)."""
    try:
        compiled_filter()
    except SyscallFilterUnavailable:
        return False
    return True
