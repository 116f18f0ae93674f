"""ArtFID (Wright and Ommer, 2022): content preservation times style fidelity.

    ArtFID = (1 + LPIPS) * (1 + FID)

with LPIPS the mean per-pair distance of outputs to their inputs and FID of the outputs against the
style set. The reference implementation uses an Inception trained on art; Atelier's value is labelled
with the FID network it used (e.g. ``inception-v3-fid-2048``), and values from different networks are
not comparable. Lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArtFidResult:
    value: float
    lpips: float
    fid: float
    fid_network: str


def artfid(*, lpips: float, fid: float, fid_network: str) -> ArtFidResult:
    """``(1 + lpips) * (1 + fid)``, labelled with ``fid_network``."""
    return ArtFidResult((1.0 + lpips) * (1.0 + fid), lpips, fid, fid_network)
