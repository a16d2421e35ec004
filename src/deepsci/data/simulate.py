"""Simulated science datasets, generated offline from a seed: planted DNA motifs and point-cloud shapes.

motifs (regulatory genomics). Background DNA of length L from a first-order Markov chain whose
stationary GC content is `gc` (default 0.42, close to the human genome's 41 %): from any base, the
next base is G or C with probability gc (split evenly), A or T with 1 - gc, except that a C is followed
by G with a quarter of its usual probability (CpG depletion, as in vertebrate genomes). Positives
carry `strength` copies of a transcription-factor site sampled from the GATA position weight matrix
below (the core WGATAR of GATA-1, Merika & Orkin, Mol. Cell. Biol. 13, 3999 (1993); matrix in the
style of JASPAR MA0035, Fornes et al., NAR 48, D87 (2020)), planted at random positions; negatives
carry a decoy: the same number of sites sampled from the PWM and then shuffled (same composition, no
motif). `sharpness` raises each PWM column to that power before renormalising (1 = the PWM as
given; larger = closer to the consensus AGATAA, an easier task). At strength 1 and sharpness 1 a
1-D CNN or a BiLSTM separates the classes (ROC-AUC near 1 with n = 2000, L = 200).

motif-labels (multi-label). The same background; three transcription-factor sites, each planted
independently in half of the sequences (one copy, sharpness 3): GATA (the PWM above), the E-box CACGTG
bound by bHLH factors such as MYC/MAX (Blackwell et al., Science 250, 1149 (1990)) and the TATA box
TATAAA bound by TBP (Breathnach & Chambon, Annu. Rev. Biochem. 50, 349 (1981)). The E-box and TATA
matrices are consensus-centred (0.85 on the consensus base, the rest spread evenly), stated here, not
measured. Label j of a sequence is "motif j was planted in it": three 0/1 columns, about independent.

motif-tags (per-base tagging). The same background and GATA PWM (sharpness 3); each sequence has a
length drawn uniformly in [min_length, length] and 0..3 planted non-overlapping sites; every base is
tagged 1 when it lies inside a planted site and 0 otherwise (a tag string as long as the sequence).
Chance GATA-like 6-mers of the background stay tagged 0, which caps a perfect tagger's per-base F1
below 1: the tag is the planted history, not the sequence.

point-sets (sets). Each sample is a cloud of 20..60 points on a shape's outline (2-D: circle, square,
triangle) or surface (3-D: sphere, cube, torus), uniformly by arc length / area, then rotated by a
random angle (2-D) or a random rotation (3-D, QR of a Gaussian matrix), scaled by U(0.5, 2),
translated by N(0, 1) per axis, with Gaussian noise of `noise` times the scale. Labels are the shape.
Zaheer et al., Deep Sets (NeurIPS 2017) classify point clouds the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from deepsci.errors import DataError

BASES = "ACGT"
# GATA-1 core site as counts-like probabilities, positions 1..6, rows A, C, G, T (consensus AGATAA).
GATA_PWM = np.array([
    [0.60, 0.05, 0.85, 0.03, 0.85, 0.80],   # A
    [0.10, 0.05, 0.05, 0.04, 0.05, 0.05],   # C
    [0.20, 0.85, 0.05, 0.03, 0.05, 0.10],   # G
    [0.10, 0.05, 0.05, 0.90, 0.05, 0.05],   # T
])
GATA_PWM = GATA_PWM / GATA_PWM.sum(0, keepdims=True)

def consensus_pwm(site: str, weight: float = 0.85) -> np.ndarray:
    """A (4, w) PWM with `weight` on each consensus base of `site` and the rest spread over the others."""
    pwm = np.full((4, len(site)), (1.0 - weight) / 3)
    pwm[[BASES.index(b) for b in site], np.arange(len(site))] = weight
    return pwm


#: the sites of the multi-label motif task, in label order
MOTIF_PWMS = {"gata": GATA_PWM, "ebox": consensus_pwm("CACGTG"), "tata": consensus_pwm("TATAAA")}
SHAPES_2D = ("circle", "square", "triangle")
SHAPES_3D = ("sphere", "cube", "torus")


def consensus(pwm: np.ndarray = GATA_PWM) -> str:
    """The most probable base at each position of a PWM (4, w) (rows A, C, G, T)."""
    return "".join(BASES[i] for i in pwm.argmax(0))


def markov_background(n: int, length: int, gc: float, rng: np.random.Generator) -> np.ndarray:
    """(n, length) base indices (A=0, C=1, G=2, T=3) from the first-order chain of the module docstring."""
    P = np.tile([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2], (4, 1))
    P[1, 2] *= 0.25  # CpG depletion
    P = P / P.sum(1, keepdims=True)
    cum = P.cumsum(1)
    out = np.empty((n, length), dtype=np.int64)
    out[:, 0] = rng.choice(4, size=n, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
    u = rng.random((n, length))
    for t in range(1, length):
        out[:, t] = (u[:, t, None] > cum[out[:, t - 1]]).sum(1)
    return np.minimum(out, 3)


def sample_sites(k: int, pwm: np.ndarray, rng: np.random.Generator, sharpness: float = 1.0) -> np.ndarray:
    """(k, w) base indices, each position drawn from its PWM column (raised to `sharpness`)."""
    p = pwm ** sharpness
    p = p / p.sum(0, keepdims=True)
    cum = p.cumsum(0)  # (4, w)
    u = rng.random((k, pwm.shape[1]))
    return np.minimum((u[:, None, :] > cum[None]).sum(1), 3)


def simulate_motifs(n: int = 2000, length: int = 200, *, strength: int = 1, sharpness: float = 1.0,
                    gc: float = 0.42, pwm: np.ndarray = GATA_PWM, decoy: bool = False, seed: int = 0) -> pd.DataFrame:
    """Balanced DNA sequences with (label 1) or without (label 0) a planted motif.

    Args:
        n: number of sequences (half positive). length: L bases.
        strength: motif copies per positive sequence (decoy copies per negative, with `decoy`).
        sharpness: PWM sharpening exponent (1 = the PWM as given).
        decoy: negatives carry the same number of PWM sites with their bases shuffled (same composition,
            no motif order). A shuffle of a 6-base site reproduces a high-scoring site often (1 in 30 for
            the consensus AGATAA), which caps any classifier's ROC-AUC well below 1; off by default.
        gc: stationary GC content of the background chain.
        seed: the one random source.

    Returns:
        DataFrame with columns id, sequence, label (0/1), motif_start (first planted site; -1 in
        negatives).
    """
    w = pwm.shape[1]
    if strength < 1 or length < strength * w:
        raise DataError(f"strength {strength} copies of a {w}-base motif do not fit in {length} bases.")
    rng = np.random.default_rng(seed)
    seqs = markov_background(n, length, gc, rng)
    labels = np.zeros(n, dtype=np.int64)
    labels[rng.permutation(n)[: n // 2]] = 1
    starts = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        slots = np.sort(rng.choice(length // w, size=strength, replace=False)) * w  # non-overlapping
        offset = min(int(rng.integers(0, length - (slots.max() + w) + 1)), w - 1)
        sites = sample_sites(strength, pwm, rng, sharpness)
        for s, site in zip(slots + offset, sites):
            if labels[i]:
                seqs[i, s:s + w] = site
            elif decoy:
                seqs[i, s:s + w] = rng.permutation(site)
        if labels[i]:
            starts[i] = int(slots[0] + offset)
    text = ["".join(BASES[b] for b in row) for row in seqs]
    return pd.DataFrame({"id": [f"seq{i}" for i in range(n)], "sequence": text, "label": labels,
                         "motif_start": starts})


def _plant(seq: np.ndarray, sites: list[np.ndarray], rng: np.random.Generator, length: int | None = None) -> list[int]:
    """Write `sites` (each (w,) base indices) into seq at random non-overlapping slots of its first `length`
    bases; returns their start positions."""
    length = len(seq) if length is None else length
    w = max(len(s) for s in sites)
    slots = np.sort(rng.choice(length // w, size=len(sites), replace=False)) * w
    offset = min(int(rng.integers(0, length - (slots.max() + w) + 1)), w - 1)
    for start, site in zip(slots + offset, sites):
        seq[start:start + len(site)] = site
    return [int(p) for p in slots + offset]


def simulate_motif_labels(n: int = 2000, length: int = 200, *, sharpness: float = 3.0, gc: float = 0.42,
                          prevalence: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """DNA sequences each carrying any subset of the GATA, E-box and TATA sites (module docstring).

    Returns:
        DataFrame with columns id, sequence and one 0/1 column per motif of MOTIF_PWMS (gata, ebox, tata):
        1 when that site was planted (each independently, with probability `prevalence`).
    """
    rng = np.random.default_rng(seed)
    seqs = markov_background(n, length, gc, rng)
    names = list(MOTIF_PWMS)
    present = rng.random((n, len(names))) < prevalence
    for i in range(n):
        chosen = [MOTIF_PWMS[m] for m, on in zip(names, present[i]) if on]
        if chosen:
            _plant(seqs[i], [sample_sites(1, pwm, rng, sharpness)[0] for pwm in chosen], rng)
    frame = pd.DataFrame({"id": [f"seq{i}" for i in range(n)], "sequence": ["".join(BASES[b] for b in r) for r in seqs]})
    for j, m in enumerate(names):
        frame[m] = present[:, j].astype(np.int64)
    return frame


def simulate_motif_tags(n: int = 1000, length: int = 200, *, min_length: int = 120, max_sites: int = 3,
                        sharpness: float = 3.0, gc: float = 0.42, pwm: np.ndarray = GATA_PWM,
                        seed: int = 0) -> pd.DataFrame:
    """Variable-length DNA with 0..max_sites planted GATA sites and a per-base tag (module docstring).

    Returns:
        DataFrame with columns id, sequence, tags (a string of '0'/'1', one per base: '1' inside a planted
        site) and n_sites.
    """
    w = pwm.shape[1]
    if min_length < max_sites * w or min_length > length:
        raise DataError(f"{max_sites} sites of {w} bases need sequences of at least {max_sites * w} bases, and "
                        f"min_length ({min_length}) at most length ({length}).")
    rng = np.random.default_rng(seed)
    seqs = markov_background(n, length, gc, rng)
    lengths = rng.integers(min_length, length + 1, size=n)
    counts = rng.integers(0, max_sites + 1, size=n)
    text, tags = [], []
    for i in range(n):
        tag = np.zeros(lengths[i], dtype=np.int64)
        if counts[i]:
            starts = _plant(seqs[i], list(sample_sites(int(counts[i]), pwm, rng, sharpness)), rng, int(lengths[i]))
            for p in starts:
                tag[p:p + w] = 1
        text.append("".join(BASES[b] for b in seqs[i, :lengths[i]]))
        tags.append("".join(map(str, tag)))
    return pd.DataFrame({"id": [f"seq{i}" for i in range(n)], "sequence": text, "tags": tags, "n_sites": counts})


def _outline_2d(shape: str, m: int, rng: np.random.Generator) -> np.ndarray:
    t = rng.random(m)
    if shape == "circle":
        a = 2 * np.pi * t
        return np.stack([np.cos(a), np.sin(a)], 1)
    corners = {"square": np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float),
               "triangle": np.array([[np.cos(a), np.sin(a)] for a in np.pi / 2 + 2 * np.pi * np.arange(3) / 3])}[shape]
    k = len(corners)
    side = np.minimum((t * k).astype(int), k - 1)
    frac = t * k - side
    return corners[side] + frac[:, None] * (corners[(side + 1) % k] - corners[side])


def _surface_3d(shape: str, m: int, rng: np.random.Generator) -> np.ndarray:
    if shape == "sphere":
        v = rng.normal(size=(m, 3))
        return v / np.linalg.norm(v, axis=1, keepdims=True)
    if shape == "cube":
        p = rng.uniform(-1, 1, size=(m, 3))
        face = rng.integers(0, 3, size=m)
        p[np.arange(m), face] = rng.choice([-1.0, 1.0], size=m)
        return p
    R, r = 1.0, 0.4  # torus, area-uniform by rejection on the tube angle
    out: list[list[float]] = []
    while len(out) < m:
        phi, theta, acc = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0, 2 * np.pi)), float(rng.random())
        if acc <= (R + r * np.cos(theta)) / (R + r):
            ring = R + r * np.cos(theta)
            out.append([ring * np.cos(phi), ring * np.sin(phi), r * np.sin(theta)])
    return np.asarray(out)


def simulate_point_sets(n: int = 1200, *, dim: int = 2, min_points: int = 20, max_points: int = 60,
                        noise: float = 0.03, seed: int = 0) -> pd.DataFrame:
    """Noisy point clouds of stated shapes, as a long table (one row per point).

    Returns:
        DataFrame with columns set_id, x, y (and z for dim = 3), shape (the label); n sets of
        min_points..max_points points, classes balanced in turn.
    """
    if dim not in (2, 3):
        raise DataError(f"point sets are 2-D or 3-D; received dim = {dim}.")
    shapes = SHAPES_2D if dim == 2 else SHAPES_3D
    rng = np.random.default_rng(seed)
    axes = ["x", "y", "z"][:dim]
    frames = []
    for i in range(n):
        shape = shapes[i % len(shapes)]
        m = int(rng.integers(min_points, max_points + 1))
        pts = _outline_2d(shape, m, rng) if dim == 2 else _surface_3d(shape, m, rng)
        if dim == 2:
            a = rng.uniform(0, 2 * np.pi)
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        else:
            q, r = np.linalg.qr(rng.normal(size=(3, 3)))
            rot = q * np.sign(np.diag(r))
        scale = rng.uniform(0.5, 2.0)
        pts = scale * pts @ rot.T + rng.normal(size=dim) + noise * scale * rng.normal(size=(m, dim))
        f = pd.DataFrame(pts, columns=axes)
        f.insert(0, "set_id", f"set{i}")
        f["shape"] = shape
        frames.append(f)
    return pd.concat(frames, ignore_index=True)
