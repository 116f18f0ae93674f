"""Feature statistics: streamed float64 mean and covariance, saved with metadata, and the reference cache.

``FeatureStats`` accumulates the mean and the scatter matrix ``M2 = sum_i (x_i - mu)(x_i - mu)^T`` of
``(N, D)`` feature batches in float64, batch by batch, with the pairwise update of Chan, Golub and
LeVeque (1979): two partial results ``(n_a, mu_a, M2_a)`` and ``(n_b, mu_b, M2_b)`` merge into

    n = n_a + n_b,  delta = mu_b - mu_a,
    mu = mu_a + delta * n_b / n,
    M2 = M2_a + M2_b + outer(delta, delta) * n_a * n_b / n,

so batches, processes and workers can each keep one ``(D, D)`` matrix and merge at the end. Memory is
``O(D^2)`` whatever the number of images. The covariance is the unbiased one, ``M2 / (n - 1)``, as
``np.cov(..., ddof=1)`` and every standard FID implementation use.

``save_stats``/``load_stats`` write and read ``.npz`` files with their ``StatsMetadata`` (network name,
weights digest, preprocessing mode, count, dataset content hash, gan_core version). ``ReferenceCache``
keeps the reference (style) set's statistics and what the metrics derive from them (a square-root
factor of the covariance, the features themselves for KID and MiFID) in a directory keyed by
``(content hash, network, weights digest, mode)``. Writes are atomic (temporary file, then rename);
reads check the key stored inside the file.

This module imports numpy only (no torch), so the web tier can read statistics files without torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_core.version import __version__ as gan_core_version

if TYPE_CHECKING:
    import torch

STATS_FORMAT = 1
"""Version of the ``.npz`` layout written by ``save_stats`` and ``ReferenceCache``."""


class StatisticsError(ValueError):
    """Statistics that cannot be used: too few images, non-finite features, mismatched or corrupt files."""


def as_float64_rows(features: np.ndarray | torch.Tensor | Any, *, what: str = "features") -> np.ndarray:
    """Return ``features`` as a C-contiguous ``(N, D)`` float64 array, refusing NaN and infinity.

    ``features``: ``(N, D)`` array or torch tensor of any real dtype (on any device).
    """
    if hasattr(features, "detach"):  # a torch tensor; torch is not imported here
        features = features.detach().cpu().double().numpy()
    array = np.ascontiguousarray(np.asarray(features, dtype=np.float64))
    if array.ndim != 2:
        raise StatisticsError(f"{what} must be a 2-d (images, dims) array, got shape {tuple(array.shape)}")
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).any(axis=1).sum())
        raise StatisticsError(
            f"{what} contain NaN or infinite values in {bad} of {array.shape[0]} rows; "
            "check the images (or the generator's outputs) that produced them"
        )
    return array


@dataclass
class FeatureStats:
    """Streaming float64 mean and scatter of ``(N, D)`` features.

    ``count``: number of rows seen; ``mean``: ``(D,)`` float64; ``scatter``: ``(D, D)`` float64,
    ``sum_i (x_i - mean)(x_i - mean)^T``.
    """

    count: int
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def empty(cls, dims: int) -> FeatureStats:
        """No rows yet, ``dims`` feature dimensions."""
        return cls(0, np.zeros(dims, dtype=np.float64), np.zeros((dims, dims), dtype=np.float64))

    @classmethod
    def from_features(cls, features: np.ndarray | torch.Tensor) -> FeatureStats:
        """Statistics of one ``(N, D)`` batch (two-pass within the batch, float64)."""
        rows = as_float64_rows(features)
        n = rows.shape[0]
        if n == 0:
            return cls.empty(rows.shape[1])
        mean = rows.mean(axis=0)
        centred = rows - mean
        return cls(n, mean, centred.T @ centred)

    @classmethod
    def from_moments(cls, *, count: int, mean: np.ndarray, covariance: np.ndarray) -> FeatureStats:
        """Statistics from a mean ``(D,)`` and an unbiased covariance ``(D, D)`` of ``count`` rows."""
        mean = np.asarray(mean, dtype=np.float64)
        covariance = np.asarray(covariance, dtype=np.float64)
        scatter = covariance * (count - 1) if count > 1 else np.zeros_like(covariance)
        return cls(int(count), mean, scatter)

    @property
    def dims(self) -> int:
        return int(self.mean.shape[0])

    def update(self, features: np.ndarray | torch.Tensor) -> FeatureStats:
        """Add an ``(N, D)`` batch in place and return ``self``."""
        merged = self.merge(FeatureStats.from_features(features))
        self.count, self.mean, self.scatter = merged.count, merged.mean, merged.scatter
        return self

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Statistics of the union of both row sets (Chan et al. pairwise update); neither input changes."""
        if other.dims != self.dims:
            raise StatisticsError(f"cannot merge statistics of {self.dims}-d and {other.dims}-d features")
        if other.count == 0:
            return FeatureStats(self.count, self.mean.copy(), self.scatter.copy())
        if self.count == 0:
            return FeatureStats(other.count, other.mean.copy(), other.scatter.copy())
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        scatter = self.scatter + other.scatter + np.outer(delta, delta) * (self.count * other.count / n)
        return FeatureStats(n, mean, scatter)

    def covariance(self) -> np.ndarray:
        """Unbiased covariance ``scatter / (count - 1)``, ``(D, D)`` float64; needs at least 2 rows."""
        require_images(self.count, what="a covariance")
        return self.scatter / (self.count - 1)


def require_images(count: int, *, what: str) -> None:
    """Refuse fewer than 2 images, the least that has a covariance."""
    if count < 2:
        raise StatisticsError(
            f"{what} needs at least 2 images, got {count}; score a folder with more images "
            "(FID-family scores are only meaningful with hundreds)"
        )


@dataclass(frozen=True)
class StatsMetadata:
    """Where statistics came from. Scores are comparable only when network, digest and mode agree."""

    network: str
    weights_sha256: str | None
    mode: str
    count: int
    content_hash: str | None = None
    gan_core_version: str = gan_core_version
    calibrated: bool = True

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StatsMetadata:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in json.loads(text).items() if key in fields})


def write_npz_atomic(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` (``.npz``) through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise StatisticsError(f"cannot read statistics file {path}: {error}; delete it and compute it again") from None


def save_stats(path: Path, stats: FeatureStats, metadata: StatsMetadata) -> None:
    """Save mean, covariance and metadata to ``path`` (``.npz``: ``mu``, ``sigma``, ``count``, ``metadata``).

    ``mu``/``sigma`` are the names pytorch-fid and clean-fid use for their statistics files.
    """
    write_npz_atomic(
        path,
        {
            "format": np.array(STATS_FORMAT),
            "mu": stats.mean,
            "sigma": stats.covariance(),
            "count": np.array(stats.count),
            "metadata": np.array(metadata.to_json()),
        },
    )


def load_stats(path: Path) -> tuple[FeatureStats, StatsMetadata]:
    """Read a file written by ``save_stats``."""
    data = _read_npz(Path(path))
    missing = {"mu", "sigma", "count", "metadata"} - set(data)
    if missing:
        raise StatisticsError(
            f"{path} is not a gan_core statistics file (missing {', '.join(sorted(missing))}); "
            "create it with `python -m gan_core stats DIR -o FILE`"
        )
    stats = FeatureStats.from_moments(count=int(data["count"]), mean=data["mu"], covariance=data["sigma"])
    return stats, StatsMetadata.from_json(str(data["metadata"]))


@dataclass(frozen=True)
class CacheKey:
    """Identity of a reference set's cached statistics."""

    content_hash: str
    network: str
    weights_digest: str
    mode: str

    def filename(self, kind: str) -> str:
        digest = hashlib.sha256(json.dumps([kind, *dataclasses.astuple(self)]).encode()).hexdigest()[:32]
        return f"{kind}-{digest}.npz"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def weights_identity(weights_sha256: str | None, *, seed: int) -> str:
    """What identifies a network's weights in a cache key: the digest, or the seed of a random init."""
    return weights_sha256 if weights_sha256 else f"random-seed-{seed}"


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite ``(D, D)`` float64 matrix via ``eigh``.

    Negative eigenvalues (rounding noise of a singular covariance) are clipped to 0.
    """
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    root = (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T
    return (root + root.T) / 2


def covariance_factor(covariance: np.ndarray) -> np.ndarray:
    """A ``(D, D)`` float64 factor ``F`` with ``F F^T = covariance``, for the FID trace.

    The Cholesky factor when the covariance is positive definite (a quarter of the cost of ``eigh``),
    else (singular: fewer images than dimensions) the symmetric square root from ``eigh``. Either way
    ``F^T S F`` is symmetric positive semi-definite with the eigenvalues of ``S covariance``.
    """
    symmetric = (covariance + covariance.T) / 2
    try:
        return np.linalg.cholesky(symmetric)
    except np.linalg.LinAlgError:
        return symmetric_sqrt(symmetric)


@dataclass
class ReferenceFeatures:
    """A reference (style) set as the metrics need it.

    ``stats``: streamed statistics; ``features``: ``(N, D)`` float64 rows (style sets are small; KID,
    MiFID and the nuclear-norm FID route use them), or None where only statistics exist;
    ``sqrt_covariance``: ``(D, D)`` float64 factor ``F`` with ``F F^T = covariance`` (``covariance_factor``:
    Cholesky, or the symmetric root when singular), computed on first use and cached.
    """

    stats: FeatureStats
    metadata: StatsMetadata | None = None
    features: np.ndarray | None = None
    sqrt_covariance: np.ndarray | None = None

    @classmethod
    def from_features(
        cls, features: np.ndarray | torch.Tensor, metadata: StatsMetadata | None = None
    ) -> ReferenceFeatures:
        """Keep ``(N, D)`` reference rows and their statistics."""
        rows = as_float64_rows(features, what="reference features")
        return cls(FeatureStats.from_features(rows), metadata, rows)

    def root(self) -> np.ndarray:
        """The covariance factor ``F``, ``F F^T = covariance`` (computed once)."""
        if self.sqrt_covariance is None:
            self.sqrt_covariance = covariance_factor(self.stats.covariance())
        return self.sqrt_covariance

    def normalised_features(self) -> np.ndarray:
        """``(N, D)`` rows scaled to unit L2 norm (zero rows stay zero), as MiFID's cosine needs."""
        if self.features is None:
            raise StatisticsError("MiFID and KID need the reference set's features, not only its statistics")
        norms = np.linalg.norm(self.features, axis=1, keepdims=True)
        return self.features / np.where(norms > 0, norms, 1.0)


class ReferenceCache:
    """A folder of reference statistics keyed by ``CacheKey``; safe to share between worker processes.

    Files are ``<kind>-<hash of key>.npz``; each stores its key, and a file whose stored key differs
    from the requested one is treated as absent (and reported by ``load`` as a miss).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, key: CacheKey, *, kind: str = "reference") -> Path:
        return self.directory / key.filename(kind)

    def load_arrays(self, key: CacheKey, *, kind: str) -> dict[str, np.ndarray] | None:
        """The arrays stored for ``key`` and ``kind``, or None when absent, unreadable or for another key."""
        path = self.path(key, kind=kind)
        if not path.is_file():
            return None
        try:
            data = _read_npz(path)
        except StatisticsError:
            return None
        if "key" not in data or str(data["key"]) != key.to_json():
            return None
        return data

    def store_arrays(self, key: CacheKey, arrays: Mapping[str, np.ndarray], *, kind: str) -> Path:
        path = self.path(key, kind=kind)
        write_npz_atomic(path, {**arrays, "key": np.array(key.to_json()), "format": np.array(STATS_FORMAT)})
        return path

    def load(self, key: CacheKey) -> ReferenceFeatures | None:
        """The cached reference set for ``key``, or None."""
        data = self.load_arrays(key, kind="reference")
        if data is None or not {"mu", "sigma", "count", "metadata", "sqrt_sigma"} <= set(data):
            return None
        stats = FeatureStats.from_moments(count=int(data["count"]), mean=data["mu"], covariance=data["sigma"])
        features = data.get("features")
        return ReferenceFeatures(
            stats=stats,
            metadata=StatsMetadata.from_json(str(data["metadata"])) if str(data["metadata"]) != "{}" else None,
            features=features if features is not None and features.size else None,
            sqrt_covariance=data["sqrt_sigma"],
        )

    def store(self, key: CacheKey, reference: ReferenceFeatures) -> Path:
        """Store ``reference`` (computing its covariance root first) under ``key``."""
        features = reference.features if reference.features is not None else np.zeros((0, reference.stats.dims))
        return self.store_arrays(
            key,
            {
                "mu": reference.stats.mean,
                "sigma": reference.stats.covariance(),
                "sqrt_sigma": reference.root(),
                "count": np.array(reference.stats.count),
                "features": features,
                "normalised_features": reference.normalised_features() if features.size else features,
                "metadata": np.array(reference.metadata.to_json() if reference.metadata else "{}"),
            },
            kind="reference",
        )
