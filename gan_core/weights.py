"""The registry of pretrained weight files: names, sources, digests, resolution and fetching.

Every pretrained network names one or more files here, each with its source URL and SHA-256
(the full hex digest, or the leading hex digits that a torch-hub file name carries, e.g.
``6726825d`` in ``pt_inception-2015-12-05-6726825d.pth``). A file is looked for in

1. ``$ATELIER_WEIGHTS_DIR``,
2. the torch hub cache (``torch.hub.get_dir()/checkpoints``, where torchvision and
   pytorch-fid download to),
3. for files that ship inside a Python package (the LPIPS linear layers in the ``lpips``
   wheel), that package's folder,

and is used only when its digest matches. Files are read with ``torch.load(weights_only=True)``
or safetensors, never with full pickle. ``python -m gan_core weights fetch NAME`` downloads a
file where the machine has internet.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# torch is imported where a function needs it: the command line lists the registry without it.

#: Environment variable naming the folder searched first for weight files.
WEIGHTS_DIR_ENVIRONMENT_VARIABLE = "ATELIER_WEIGHTS_DIR"

#: Seconds a download may stall before it is abandoned.
DOWNLOAD_TIMEOUT_S = 60.0

_HASH_BLOCK = 1 << 20
_digest_cache: dict[tuple[str, int, int], str] = {}


class WeightsError(RuntimeError):
    """A weight file that is missing, corrupt or unreadable; the message names the file, its URL,
    the folders searched and the command that fetches it."""


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained weight file.

    ``sha256`` is the full lower-case hex digest (64 digits) or, for torch-hub style files, the
    leading digits that the file name carries (at least 8). ``aliases`` are other names the same
    bytes are published under (the digest still decides). ``package_data`` is
    ``(package, relative path)`` when an installed package ships the file.
    """

    name: str
    filename: str
    url: str
    sha256: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    package_data: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        digest = self.sha256.lower()
        if len(digest) < 8 or len(digest) > 64 or any(char not in "0123456789abcdef" for char in digest):
            raise ValueError(f"WeightsFile {self.name}: sha256 must be 8 to 64 hex digits, got {self.sha256!r}.")
        object.__setattr__(self, "sha256", digest)

    @property
    def filenames(self) -> tuple[str, ...]:
        return (self.filename, *self.aliases)

    def matches(self, hexdigest: str) -> bool:
        """Whether a file with this full SHA-256 hex digest is this weight file."""
        return hexdigest.lower().startswith(self.sha256)

    @property
    def fetch_command(self) -> str:
        return f"python -m gan_core weights fetch {self.name}"

    @property
    def refetch_hint(self) -> str:
        """What to do about a bad copy of this file, as the last sentence of an error."""
        return f"Delete it and run `{self.fetch_command}` (source: {self.url})."


REGISTRY: dict[str, WeightsFile] = {
    entry.name: entry
    for entry in (
        WeightsFile(
            name="inception-v3-fid",
            filename="pt_inception-2015-12-05-6726825d.pth",
            url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            sha256="6726825d",
            description="TF inception-2015-12-05 graph ported to PyTorch (pytorch-fid release fid_weights); FID/KID/MiFID",
            aliases=("weights-inception-2015-12-05-6726825d.pth",),
        ),
        WeightsFile(
            name="vgg19",
            filename="vgg19-dcbb9e9d.pth",
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256="dcbb9e9d",
            description="torchvision VGG-19 ImageNet weights; content and Gram style distances",
        ),
        WeightsFile(
            name="alexnet",
            filename="alexnet-owt-7be5be79.pth",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            sha256="7be5be79",
            description="torchvision AlexNet ImageNet weights; the LPIPS trunk",
        ),
        WeightsFile(
            name="lpips-alex-v0.1",
            filename="lpips-alex-v0.1.pth",
            url="https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
            sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            description="LPIPS v0.1 linear layers for AlexNet (ship inside the lpips wheel as weights/v0.1/alex.pth)",
            aliases=("alex.pth",),
            package_data=("lpips", "weights/v0.1/alex.pth"),
        ),
    )
}


def search_directories() -> list[Path]:
    """The folders searched for weight files, in order: ``$ATELIER_WEIGHTS_DIR`` (when set), then
    the torch hub cache's ``checkpoints`` folder."""
    folders: list[Path] = []
    configured = os.environ.get(WEIGHTS_DIR_ENVIRONMENT_VARIABLE, "").strip()
    if configured:
        folders.append(Path(configured).expanduser())
    import torch

    folders.append(Path(torch.hub.get_dir()).expanduser() / "checkpoints")
    return folders


def default_directory() -> Path:
    """Where ``fetch`` writes when no folder is given: the first of :func:`search_directories`."""
    return search_directories()[0]


def file_sha256(path: Path) -> str:
    """Full SHA-256 hex digest of a file, streamed (cached per path, size and modification time)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    cached = _digest_cache.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    _digest_cache[key] = digest.hexdigest()
    return _digest_cache[key]


def resolve(name: str) -> Path:
    """The verified path of the weight file registered as ``name``.

    Raises :class:`WeightsError` when it is not registered, not found in any searched folder,
    or found with the wrong digest.
    """
    entry = _entry(name)
    for candidate in _candidates(entry):
        if not candidate.is_file():
            continue
        actual = file_sha256(candidate)
        if not entry.matches(actual):
            raise WeightsError(
                f"Weights file {candidate} has the wrong SHA-256 digest: expected {entry.sha256}"
                f"{'...' if len(entry.sha256) < 64 else ''}, found {actual}. It is corrupt or a different file. "
                f"{entry.refetch_hint}"
            )
        return candidate
    searched = ", ".join(str(folder) for folder in _search_locations(entry))
    raise WeightsError(
        f"Weights file {entry.filename} ({entry.name}) is missing. Searched: {searched}. "
        f"Run `{entry.fetch_command}` where there is internet, or download {entry.url} "
        f"into ${WEIGHTS_DIR_ENVIRONMENT_VARIABLE} yourself."
    )


def load_state_dict(name: str) -> tuple[dict[str, torch.Tensor], str]:
    """Load the weight file registered as ``name``: ``(state dict on CPU, full SHA-256 hex)``.

    ``.safetensors`` files are read with safetensors, anything else with
    ``torch.load(weights_only=True)``; a file that is not a mapping of names to tensors raises
    :class:`WeightsError`.
    """
    import torch

    entry = _entry(name)
    path = resolve(name)
    digest = file_sha256(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise WeightsError(
            f"Weights file {path} ({entry.name}) could not be read safely ({type(error).__name__}: {error}). "
            f"{entry.refetch_hint}"
        ) from error
    if not isinstance(loaded, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in loaded.items()
    ):
        raise WeightsError(f"Weights file {path} ({entry.name}) is not a state dict of tensors. {entry.refetch_hint}")
    return dict(loaded), digest


def status() -> list[dict[str, Any]]:
    """One row per registered file: ``name``, ``filename``, ``url``, ``sha256`` (as registered),
    ``state`` (``"verified"``, ``"missing"`` or ``"corrupt"``), ``path`` (str or None), ``message``
    (the error for missing or corrupt files) and ``searched`` (list of folders)."""
    rows: list[dict[str, Any]] = []
    for entry in REGISTRY.values():
        row: dict[str, Any] = {
            "name": entry.name,
            "filename": entry.filename,
            "url": entry.url,
            "sha256": entry.sha256,
            "searched": [str(folder) for folder in _search_locations(entry)],
        }
        try:
            path = resolve(entry.name)
        except WeightsError as error:
            present = any(candidate.is_file() for candidate in _candidates(entry))
            row.update(state="corrupt" if present else "missing", path=None, message=str(error))
        else:
            row.update(state="verified", path=str(path), message="")
        rows.append(row)
    return rows


def fetch(names: Sequence[str] | None = None, *, directory: Path | None = None) -> list[Path]:
    """Download the named weight files (all registered ones when ``names`` is empty) into
    ``directory`` (default :func:`default_directory`) and return their paths.

    A file already present there with the right digest is not downloaded again; a file that an
    installed package ships (the LPIPS layers in the ``lpips`` wheel) is copied from it. Each download
    streams to a temporary file in ``directory``, is verified, and only then renamed into place,
    so a failed or mismatched download leaves nothing behind. Raises :class:`WeightsError`.
    """
    entries = [_entry(name) for name in (names or list(REGISTRY))]
    target = Path(directory) if directory is not None else default_directory()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsError(f"Cannot create the weights folder {target} ({error}). Pass a writable --dir.") from error
    return [_fetch_one(entry, target) for entry in entries]


def _fetch_one(entry: WeightsFile, target: Path) -> Path:
    final = target / entry.filename
    if final.is_file():
        actual = file_sha256(final)
        if entry.matches(actual):
            return final
        raise WeightsError(
            f"{final} exists with the wrong SHA-256 digest ({actual}, expected {entry.sha256}). "
            f"Delete it and run `{entry.fetch_command}` again."
        )
    packaged = _packaged_copy(entry)
    source = packaged.as_uri() if packaged is not None else entry.url
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=target, prefix=f".{entry.filename}.", suffix=".partial", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            try:
                with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    while block := response.read(_HASH_BLOCK):
                        digest.update(block)
                        handle.write(block)
            except (urllib.error.URLError, OSError, ValueError) as error:
                raise WeightsError(
                    f"Could not download {entry.filename} ({entry.name}) from {entry.url}: {error}. "
                    f"Where this machine has no internet, download it elsewhere and copy it into {target}."
                ) from error
        actual = digest.hexdigest()
        if not entry.matches(actual):
            raise WeightsError(
                f"Downloaded {entry.filename} ({entry.name}) from {entry.url} has the wrong SHA-256 digest: "
                f"expected {entry.sha256}, got {actual}. Nothing was saved; check the URL or try again later."
            )
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)
    _digest_cache[(str(final.resolve()), final.stat().st_size, final.stat().st_mtime_ns)] = actual
    return final


def _packaged_copy(entry: WeightsFile) -> Path | None:
    """The verified copy an installed package ships (e.g. the lpips wheel), to copy instead of downloading."""
    folder = _package_folder(entry)
    if folder is None or entry.package_data is None:
        return None
    path = folder / Path(entry.package_data[1]).name
    return path if path.is_file() and entry.matches(file_sha256(path)) else None


def _entry(name: str) -> WeightsFile:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise WeightsError(f"No weights file is registered as {name!r}. Known names: {known}.") from None


def _package_folder(entry: WeightsFile) -> Path | None:
    if entry.package_data is None:
        return None
    package, relative = entry.package_data
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return (Path(next(iter(spec.submodule_search_locations))) / relative).parent


def _search_locations(entry: WeightsFile) -> list[Path]:
    folders = search_directories()
    package_folder = _package_folder(entry)
    if package_folder is not None:
        folders.append(package_folder)
    return folders


def _candidates(entry: WeightsFile) -> Iterable[Path]:
    for folder in search_directories():
        for filename in entry.filenames:
            yield folder / filename
    package_folder = _package_folder(entry)
    if package_folder is not None and entry.package_data is not None:
        yield package_folder / Path(entry.package_data[1]).name
