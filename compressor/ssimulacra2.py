"""Fast SSIMULACRA2, numerically matching the PyPI package ``ssimulacra2`` 0.3.0.

The PyPI package (pure Python on numpy/scipy, float64) spends 1.1-2.4 s of CPU per
megapixel; this module computes the same score (within 3e-3 points on the test sets, 1e-4
typically) in float32 in about 0.08 s/MP, or 0.05 s/MP per candidate against a prepared
``Reference``, with numpy only (no scipy).

What is computed is exactly what ``ssimulacra2.compute_ssimulacra2`` 0.3.0 computes for
8-bit images, including its departures from libjxl's tools/ssimulacra2.cc:

* blur: an 11-tap Gaussian (sigma 1.5, scipy ``gaussian_filter`` with ``truncate=3.33``),
  not libjxl's recursive Gaussian. The package transposes the image (``linear.T``) before
  blurring, so its zero padding falls on the left/right image borders and scipy's
  half-sample ``reflect`` mode on the top/bottom borders. Replicated here.
* too-small images: the package's scale loop stops as soon as a side is < 8 px; an input
  smaller than 8x8 gets no scale at all and "scores" 100.0 whatever it contains. Here such
  inputs raise ``ValueError`` instead. When fewer than 6 scales fit, the package walks the
  108 weights consecutively (as libjxl does), so scale k of channel 1 reuses weights meant
  for another scale; replicated.
* everything else (sRGB -> linear -> opsin XYB, MakePositiveXYB, 2x2 box downsampling in
  linear light, the SSIM and edge-artifact/detail-loss maps with their 1- and 4-norms, the
  weights and the final polynomial) follows libjxl.

How it is fast (see REPORT.md): the blur is two small banded matrix products per band of
rows (BLAS sgemm does the 11 taps), everything runs on cache-sized row bands in float32,
and maps whose 108 weights are all zero are not computed (the channel-Y maps at scale 6,
the SSIM maps of channels X and B at scale 1, ...). A greyscale pair only needs channel Y:
with R=G=B the X and B planes of both images are identical constants, their terms are 0.

``Reference(img)`` keeps the reference image's per-scale data (blurred means, variances,
edge strengths; ~43 bytes per pixel) so that scoring many candidates against one original
costs 35-40% less each.

Threads: the matrix products go through numpy's BLAS. Each is kept below OpenBLAS's
size threshold for multi-threading (threads would burn 3-4x the CPU on products this
small), so the module runs on one core whatever OPENBLAS_NUM_THREADS says (numpy's own
OpenBLAS; an MKL build may decide otherwise). Nothing is shared or mutated between calls:
``score`` and ``Reference.score`` may run concurrently in threads.
"""

from __future__ import annotations

from typing import cast

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

__all__ = ["Reference", "score"]

F32 = np.float32
Arr = NDArray[np.float32]
U8 = NDArray[np.uint8]
F64 = NDArray[np.float64]

_NUM_SCALES = 6
_C2 = 0.0009
_R = 5  # blur radius: int(3.33 * 1.5 + 0.5), as scipy computes it
_BLK = 16  # output columns/rows per block of the banded blur matrices
# Work sizes. Besides fitting the L2 cache, every matrix product stays at or below
# m * n * k = 2**18, OpenBLAS's threshold for going multi-threaded: on small products its
# threads cost far more CPU (spinning, waking) than they save.
_BAND_PX = 1 << 16  # pixels per row band
_BAND_ROWS = 32  # at most: (32 + 2R) rows x 12 planes x (_BLK + 2R) x _BLK < 2**18
_COLS = 512  # vertical pass: _BLK x (_BLK + 2R) x 512 < 2**18
_CONV_PX = 1 << 14  # pixels per chunk of the colour conversion: 3 x 3 x 16384 < 2**18

# Weights of libjxl/the package, one row per (channel, scale) when 6 scales exist; the columns
# are the SSIM 1-norm, artifact 1-norm, detail-loss 1-norm, then the same three 4-norms.
_WEIGHTS = np.array(
    [
        0.0,
        0.0007376606707406586,
        0.0,
        0.0,
        0.0007793481682867309,
        0.0,
        0.0,
        0.0004371155730107379,
        0.0,
        1.1041726426657346,
        0.00066284834129271,
        0.00015231632783718752,
        0.0,
        0.0016406437456599754,
        0.0,
        1.8422455520539298,
        11.441172603757666,
        0.0,
        0.0007989109436015163,
        0.000176816438078653,
        0.0,
        1.8787594979546387,
        10.94906990605142,
        0.0,
        0.0007289346991508072,
        0.9677937080626833,
        0.0,
        0.00014003424285435884,
        0.9981766977854967,
        0.00031949755934435053,
        0.0004550992113792063,
        0.0,
        0.0,
        0.0013648766163243398,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        7.466890328078848,
        0.0,
        17.445833984131262,
        0.0006235601634041466,
        0.0,
        0.0,
        6.683678146179332,
        0.00037724407979611296,
        1.027889937768264,
        225.20515300849274,
        0.0,
        0.0,
        19.213238186143016,
        0.0011401524586618361,
        0.001237755635509985,
        176.39317598450694,
        0.0,
        0.0,
        24.43300999870476,
        0.28520802612117757,
        0.0004485436923833408,
        0.0,
        0.0,
        0.0,
        34.77906344483772,
        44.835625328877896,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0008680556573291698,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0005313191874358747,
        0.0,
        0.00016533814161379112,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0004179171803251336,
        0.0017290828234722833,
        0.0,
        0.0020827005846636437,
        0.0,
        0.0,
        8.826982764996862,
        23.19243343998926,
        0.0,
        95.1080498811086,
        0.9863978034400682,
        0.9834382792465353,
        0.0012286405048278493,
        171.2667255897307,
        0.9807858872435379,
        0.0,
        0.0,
        0.0,
        0.0005130064588990679,
        0.0,
        0.00010854057858411537,
    ],
    dtype=np.float64,
)


def _blur_blocks() -> tuple[Arr, Arr]:
    """Banded blocks: output block of _BLK samples = window of _BLK + 2R inputs @ _KH."""
    t = np.arange(-_R, _R + 1, dtype=np.float64)
    k = np.exp(-0.5 / (1.5 * 1.5) * t**2)
    k /= k.sum()  # scipy's _gaussian_kernel1d
    kh = np.zeros((_BLK + 2 * _R, _BLK), np.float64)
    for o in range(_BLK):
        kh[o : o + 2 * _R + 1, o] = k
    return kh.astype(F32), np.ascontiguousarray(kh.T).astype(F32)


_KH, _KV = _blur_blocks()


_BIAS = 0.0037930732552754493


def _srgb_luts() -> tuple[Arr, NDArray[np.float64]]:
    """sRGB byte -> linear + opsin bias; and the same for byte pairs read as one uint16.

    The bias is added here: each row of the opsin matrix sums to 1, so M @ (rgb + bias)
    = M @ rgb + bias, and the box-filtered pyramid can carry it along. The pair table (64 Ki
    float32 pairs, viewed as float64 so that one take() moves both) halves the index work.
    """
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4) + _BIAS
    lut = lin.astype(F32)
    pairs = np.empty((65536, 2), F32)
    lo, hi = np.tile(lut, 256), np.repeat(lut, 256)  # uint16 = first byte + 256 * second
    pairs[:, 0], pairs[:, 1] = (lo, hi) if np.little_endian else (hi, lo)
    return lut, pairs.view(np.float64).reshape(-1)


_LUT, _LUT_PAIRS = _srgb_luts()
_CBRT_BIAS = float(np.cbrt(_BIAS))
_OPSIN_T = (
    np.array(
        [
            [0.30, 1.0 - 0.078 - 0.30, 0.078],
            [0.23, 1.0 - 0.078 - 0.23, 0.078],
            [
                0.24342268924547819,
                0.20476744424496821,
                1.0 - 0.24342268924547819 - 0.20476744424496821,
            ],
        ],
        dtype=np.float64,
    )
    .T.astype(F32)
    .copy()
)
# cube roots c' -> positive XYB: X = 14 * (c0' - c1') / 2 + 0.42, Y = (c0' + c1') / 2 - cbrt(bias)
# + 0.01, B = c2' - (c0' + c1') / 2 + 0.55  (the cbrt(bias) terms cancel in X and B)
_MIX = np.array([[7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0]], dtype=F32)
_OFF = np.array([[0.42], [0.01 - _CBRT_BIAS], [0.55]], dtype=F32)
_Y_OFF = F32(0.01 - _CBRT_BIAS)
_DOWN = (0.25 * np.vstack([np.eye(3), np.eye(3)])).astype(F32)  # (6, 3): sum 2 px, /4


# --------------------------------------------------------------------------------------------
# Plan: which maps each scale needs
# --------------------------------------------------------------------------------------------


def _n_scales(h: int, w: int) -> int:
    n = 0
    while n < _NUM_SCALES and h >= 8 and w >= 8:
        n += 1
        h, w = (h + 1) // 2, (w + 1) // 2
    return n


class _Plan:
    """One scale: size, weights, the channels and maps with a nonzero weight, row bands."""

    def __init__(self, h: int, w: int, scale: int, n_scales: int, grey: bool) -> None:
        self.h, self.w = h, w
        base = [c * n_scales * 6 + scale * 6 for c in range(3)]
        self.wts: F64 = np.stack([_WEIGHTS[b : b + 6] for b in base])  # (3, 6)
        chans = (1,) if grey else (0, 1, 2)
        self.chans = tuple(c for c in chans if self.wts[c].any())
        self.ssim = tuple(c for c in self.chans if self.wts[c, 0] or self.wts[c, 3])
        self.edge = tuple(c for c in self.chans if self.wts[c, [1, 2, 4, 5]].any())
        self.plane = {c: (0 if grey else c) for c in chans}  # channel -> plane of XYB buffer
        hb = min(_BAND_ROWS, max(_BLK, (_BAND_PX // w) // _BLK * _BLK))
        self.hb = min(hb, -(-h // _BLK) * _BLK)
        self.bands = [(y, min(self.hb, h - y)) for y in range(0, h, self.hb)]


def _plans(h: int, w: int, grey: bool) -> list[_Plan]:
    n = _n_scales(h, w)
    out = []
    for s in range(n):
        out.append(_Plan(h, w, s, n, grey))
        h, w = (h + 1) // 2, (w + 1) // 2
    return out


# --------------------------------------------------------------------------------------------
# Colour conversion and the linear-light pyramid
# --------------------------------------------------------------------------------------------


def _linear(blk: NDArray[np.generic]) -> Arr:
    """Linear light (+ bias) of a C-contiguous block of sRGB bytes."""
    b = cast(U8, blk)
    if b.size % 2 == 0 and b.flags.c_contiguous:
        return _LUT_PAIRS.take(b.reshape(-1).view(np.uint16)).view(F32).reshape(b.shape)
    return _LUT.take(b)


def _convert(src: U8 | Arr, grey: bool, want_next: bool) -> tuple[Arr, Arr | None]:
    """One pyramid level.

    src: uint8 sRGB (h, w[, 3]) or float32 linear RGB (h, w[, 3]) (no channel axis = grey).
    Returns the positive-XYB planes (P, h + 2R, w) with R reflected rows above and below
    (P = 3, or 1 holding only Y for grey), and the next level's linear image (2x2 box mean,
    odd edges averaged over the pixels that exist, like the package) if wanted.
    """
    h, w = src.shape[:2]
    nch = 1 if grey else 3
    xp = np.empty((nch, h + 2 * _R, w), F32)
    shape_next = ((h + 1) // 2, (w + 1) // 2) + (() if grey else (3,))
    nxt = np.empty(shape_next, F32) if want_next else None
    ch = max(2, (_CONV_PX // w) & ~1)  # even, so chunks pair rows for downsampling
    rows = np.empty(((ch + 1) // 2, w) + (() if grey else (3,)), F32)
    w2 = w // 2
    for r0 in range(0, h, ch):
        r1 = min(h, r0 + ch)
        blk = src[r0:r1]
        n = (r1 - r0) * w
        lin = _linear(blk) if blk.dtype == np.uint8 else cast(Arr, blk)
        if grey:
            # R = G = B: the opsin rows sum to 1, so all three mixes equal lin + bias
            y = xp[0, _R + r0 : _R + r1]
            np.cbrt(lin, out=y)
            y += _Y_OFF
        else:
            # linear RGB >= 0 and the matrix is positive, so the package's clamp at 0 is a no-op
            mixed = lin.reshape(n, 3) @ _OPSIN_T
            np.cbrt(mixed, out=mixed)
            dst = xp[:, _R + r0 : _R + r1].reshape(3, n)  # a view: rows of a plane are adjacent
            np.matmul(_MIX, mixed.T, out=dst)
            dst += _OFF
        if nxt is None:
            continue
        k = r1 - r0
        k2, kk = k // 2, (k + 1) // 2
        rr = rows[:kk]
        np.add(lin[0 : 2 * k2 : 2], lin[1 : 2 * k2 : 2], out=rr[:k2])
        if k % 2:
            np.multiply(lin[-1], F32(2), out=rr[k2])
        o = nxt[r0 // 2 : r0 // 2 + kk]
        if grey:
            np.add(rr[:, 0 : 2 * w2 : 2], rr[:, 1 : 2 * w2 : 2], out=o[:, :w2])
            o[:, :w2] *= F32(0.25)
        elif w2:
            np.matmul(rr[:, : 2 * w2].reshape(kk, w2, 6), _DOWN, out=o[:, :w2])
        if w % 2:
            np.multiply(rr[:, -1], F32(0.5), out=o[:, w2])
    # scipy's "reflect" (half-sample symmetric) rows above and below, for the vertical blur
    xp[:, 0:_R] = xp[:, _R : 2 * _R][:, ::-1]
    xp[:, _R + h :] = xp[:, h : h + _R][:, ::-1]
    return xp, nxt


# --------------------------------------------------------------------------------------------
# Blur of a band of rows, for a stack of planes
# --------------------------------------------------------------------------------------------


class _Blur:
    """Buffers for blurring `p` planes, one band of up to `hb` rows at a time, top to bottom.

    Horizontal pass (zero padding left/right): the new rows are laid out (rows, p, wp) with R
    zero columns on either side; overlapping windows of _BLK + 2R columns, every _BLK
    columns, are multiplied by the banded block _KH in one batched matmul. Its output for
    the band's rows plus R halo rows above and below goes to `q`; the top 2R of those were
    computed with the previous band and are moved, not recomputed.
    Vertical pass (the XYB buffers hold reflected rows): windows of _BLK + 2R rows of `q`
    times _KV, again one batched matmul.
    """

    def __init__(self, p: int, hb: int, w: int) -> None:
        self.p, self.w = p, w
        self.nbx = -(-w // _BLK)
        self.nc = self.nbx * _BLK
        self.wp = self.nc + 2 * _R
        hb16 = -(-hb // _BLK) * _BLK
        self.inb = np.zeros((hb + 2 * _R, p, self.wp), F32)
        self.q = np.zeros((hb16 + 2 * _R, p, self.nc), F32)
        self.out = np.empty((hb16, p, self.nc), F32)
        self.tmp = np.empty((4, hb, w), F32)
        self.ones = np.ones(hb * w, F32)
        self.zeros = np.zeros(hb * w, F32)
        self.hb = 0  # rows of the current band
        self.n = 0  # rows of it to fill: hb + 2R, or hb when the top halo is carried over
        self.next_y = 0  # first row of the band that can carry the halo over
        self.prev_hb = 0

    def start(self, y0: int, hb: int) -> slice:
        """Begin band [y0, y0 + hb): returns the rows of the XYB buffers (which have R rows
        of padding on top) to put into the slots."""
        if y0 and y0 == self.next_y:
            self.n = hb
            first = y0 + 2 * _R
        else:
            self.n = hb + 2 * _R
            first = y0
        self.next_y, self.prev_hb, self.hb = y0 + hb, self.hb if y0 else 0, hb
        return slice(first, y0 + hb + 2 * _R)

    def slot(self, k: int) -> Arr:
        """Where input plane k of the current band goes."""
        return self.inb[: self.n, k, _R : _R + self.w]

    def run(self) -> Arr:
        """Blur the filled slots; plane k of the result is out[:hb, k, :w]."""
        p, nc, wp, n, hb = self.p, self.nc, self.wp, self.n, self.hb
        q0 = hb + 2 * _R - n
        if q0:  # halo rows from the previous band
            self.q[:q0] = self.q[self.prev_hb : self.prev_hb + q0]
        m = n * p
        a = self.inb[:n].reshape(m, wp)
        win = as_strided(a, (self.nbx, m, _BLK + 2 * _R), (_BLK * 4, wp * 4, 4))
        qv = self.q[q0 : q0 + n].reshape(m, nc)
        dst = as_strided(qv, (self.nbx, m, _BLK), (_BLK * 4, nc * 4, 4))
        np.matmul(win, _KH, out=dst)
        nby = -(-hb // _BLK)
        cols = p * nc
        q2 = self.q.reshape(self.q.shape[0], cols)
        o2 = self.out.reshape(self.out.shape[0], cols)
        rs = cols * 4  # row stride in bytes
        nck, rest = divmod(cols, _COLS)
        if nck:  # blocks of _BLK output rows x chunks of _COLS columns
            win2 = as_strided(q2, (nby, nck, _BLK + 2 * _R, _COLS), (_BLK * rs, _COLS * 4, rs, 4))
            dst2 = as_strided(o2, (nby, nck, _BLK, _COLS), (_BLK * rs, _COLS * 4, rs, 4))
            np.matmul(_KV, win2, out=dst2)
        if rest:
            win2 = as_strided(q2[:, nck * _COLS :], (nby, _BLK + 2 * _R, rest), (_BLK * rs, rs, 4))
            dst2 = as_strided(o2[:, nck * _COLS :], (nby, _BLK, rest), (_BLK * rs, rs, 4))
            np.matmul(_KV, win2, out=dst2)
        return self.out


# --------------------------------------------------------------------------------------------
# Per-band maps
# --------------------------------------------------------------------------------------------


class _RefBand:
    """The reference image's part of the maps for one band of one scale."""

    __slots__ = ("den1", "e1", "inv1", "mu1")

    def __init__(self) -> None:
        self.mu1: dict[int, Arr] = {}  # blurred reference
        self.e1: dict[int, Arr] = {}  # |x1 - mu1| (one-shot only)
        self.inv1: dict[int, Arr] = {}  # 1 / (1 + |x1 - mu1|)  (one-shot: 1 + |x1 - mu1|)
        self.den1: dict[int, Arr] = {}  # s11 - mu1^2 + C2 (Reference only)


def _ref_band(pl: _Plan, x1p: Arr, y0: int, hb: int, bl: Arr, work: Arr | None) -> _RefBand:
    """Reference maps from the blurred planes (mu1 of each channel from plane 0, then s11 of
    each ssim channel). For a Reference (`work` None) they are its own arrays, with inv1 for
    multiplying; one-shot, they are views or go into `work`, with 1 + e1 to divide by and no
    den1 (blur(x1^2) is fused with blur(x2^2) there)."""
    w = pl.w
    rb = _RefBand()
    for k, c in enumerate(pl.chans):
        mu = bl[:hb, k, :w]
        if c in pl.ssim:  # the edge maps need only e1 and inv1
            rb.mu1[c] = mu if work is not None else mu.copy()
        if c in pl.edge:
            i = 2 * pl.edge.index(c)
            x1 = x1p[pl.plane[c], _R + y0 : _R + y0 + hb]
            if work is not None:  # one-shot: e1 and 1 + e1
                e1 = np.subtract(x1, mu, out=work[i, :hb])
                np.abs(e1, out=e1)
                rb.e1[c] = e1
                rb.inv1[c] = np.add(e1, F32(1), out=work[i + 1, :hb])
            else:  # Reference: only 1 / (1 + e1), to keep less
                inv = x1 - mu
                np.abs(inv, out=inv)
                inv += F32(1)
                rb.inv1[c] = np.divide(F32(1), inv, out=inv)
    for k, c in enumerate(pl.ssim if work is None else ()):
        mu = rb.mu1[c]
        d = mu * mu
        np.subtract(bl[:hb, len(pl.chans) + k, :w], d, out=d)
        d += F32(_C2)
        rb.den1[c] = d
    return rb


def _fill_ref(pl: _Plan, blr: _Blur, x1p: Arr, rows: slice) -> None:
    for k, c in enumerate(pl.chans):
        np.copyto(blr.slot(k), x1p[pl.plane[c], rows])
    for k, c in enumerate(pl.ssim):
        x = x1p[pl.plane[c], rows]
        np.multiply(x, x, out=blr.slot(len(pl.chans) + k))


def _fill_dist(
    pl: _Plan, blr: _Blur, x1: dict[int, Arr], x2p: Arr, rows: slice, base: int, fused: bool
) -> None:
    """Distorted planes from slot `base`: x2 per channel, then per ssim channel s22 and
    (x1 - x2)^2. Fused (one-shot) mode puts x1^2 + x2^2 in the s22 slot instead; the reference
    planes were then filled at slot 0 without their x1^2."""
    nch = len(pl.chans)
    for k, c in enumerate(pl.chans):
        np.copyto(blr.slot(base + k), x2p[pl.plane[c], rows])
    for k, c in enumerate(pl.ssim):
        a, b = x1[c][rows], x2p[pl.plane[c], rows]
        s = blr.slot(base + nch + 2 * k)
        d = blr.slot(base + nch + 2 * k + 1)
        np.multiply(b, b, out=s)
        if fused:
            np.multiply(a, a, out=d)
            s += d
        np.subtract(a, b, out=d)
        np.multiply(d, d, out=d)


def _dist_band(
    pl: _Plan,
    rb: _RefBand,
    x2p: Arr,
    y0: int,
    hb: int,
    bl: Arr,
    base: int,
    fused: bool,
    blr: _Blur,
    sums: F64,
) -> None:
    """Accumulate the distorted image's map sums (1-norm and 4th powers) of one band."""
    w = pl.w
    nch = len(pl.chans)
    t0, t1, t2 = blr.tmp[0, :hb], blr.tmp[1, :hb], blr.tmp[2, :hb]
    n = hb * w
    ones, zeros = blr.ones[:n], blr.zeros[:n]  # dot(x, ones) sums faster than x.sum()
    for k, c in enumerate(pl.chans):
        wt = pl.wts[c]
        mu2 = bl[:hb, base + k, :w]
        if c in pl.ssim:
            j = base + nch + 2 * pl.ssim.index(c)
            # d = 1 - (1 - dmu^2) * (1 - V / den) with V = blur((x1-x2)^2) - dmu^2 and
            # den = var1 + var2 + C2: the package's 1 - num_m * num_s / denom_s, rearranged
            # (num_s = denom_s - V) so that float32 loses nothing to cancellation.
            np.subtract(rb.mu1[c], mu2, out=t0)
            np.multiply(t0, t0, out=t0)  # dmu^2
            np.subtract(bl[:hb, j + 1, :w], t0, out=t1)  # V
            np.multiply(mu2, mu2, out=t2)
            np.subtract(bl[:hb, j, :w], t2, out=t2)
            if fused:  # the slot holds blur(x1^2 + x2^2)
                t3 = blr.tmp[3, :hb]
                np.multiply(rb.mu1[c], rb.mu1[c], out=t3)
                t2 -= t3
                t2 += F32(_C2)
            else:
                t2 += rb.den1[c]
            t1 /= t2  # V / den
            np.subtract(F32(1), t1, out=t2)
            t2 *= t0
            t1 += t2  # d = V/den + dmu^2 (1 - V/den); >= 0 (the package clamps rounding)
            flat = t1.reshape(-1)
            if wt[0]:
                sums[c, 0] += float(np.dot(flat, ones))
            if wt[3]:
                np.multiply(flat, flat, out=flat)
                sums[c, 3] += float(np.dot(flat, flat))
        if c in pl.edge:
            # d1 = (1 + |x2 - mu2|) / (1 + |x1 - mu1|) - 1
            np.subtract(x2p[pl.plane[c], _R + y0 : _R + y0 + hb], mu2, out=t0)
            np.abs(t0, out=t0)
            if fused:  # = (e2 - e1) / (1 + e1)
                t0 -= rb.e1[c]
                t0 /= rb.inv1[c]  # holds 1 + e1
            else:  # = (1 + e2) * inv1 - 1
                t0 += F32(1)
                t0 *= rb.inv1[c]
                t0 -= F32(1)
            d1 = t0.reshape(-1)
            if wt[1] or wt[4]:
                a = np.maximum(d1, zeros, out=t1.reshape(-1))  # ringing, blocking
                if wt[1]:
                    sums[c, 1] += float(np.dot(a, ones))
                if wt[4]:
                    np.multiply(a, a, out=a)
                    sums[c, 4] += float(np.dot(a, a))
            if wt[2] or wt[5]:
                m = np.minimum(d1, zeros, out=t1.reshape(-1))  # blur, lost detail
                if wt[2]:
                    sums[c, 2] -= float(np.dot(m, ones))
                if wt[5]:
                    np.multiply(m, m, out=m)
                    sums[c, 5] += float(np.dot(m, m))


def _combine(plans: list[_Plan], sums: list[F64]) -> float:
    total = 0.0
    for pl, s in zip(plans, sums, strict=True):
        f = s / float(pl.h * pl.w)
        f[:, 3:] = np.maximum(f[:, 3:], 0.0) ** 0.25
        total += float((pl.wts * f).sum())
    s2 = total * 0.9562382616834844
    s2 = (
        2.326765642916932 * s2
        - 0.020884521182843837 * s2 * s2
        + 6.248496625763138e-05 * s2 * s2 * s2
    )
    if s2 > 0:
        return 100.0 - 10.0 * float(s2**0.6276336467831387)
    return 100.0


# --------------------------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------------------------


def _check(img: NDArray[np.generic], what: str) -> U8:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"{what}: expected a uint8 array, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"{what}: expected HxW or HxWx3, got shape {a.shape}")
    if a.shape[0] < 8 or a.shape[1] < 8:
        raise ValueError(
            f"{what}: image is {a.shape[1]}x{a.shape[0]} px; SSIMULACRA2 needs at least 8x8 "
            "(the ssimulacra2 package computes no scale at all for such inputs and returns a "
            "meaningless 100.0; libjxl refuses them)"
        )
    return np.ascontiguousarray(a)


def _as_rgb(a: U8) -> U8:
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


class Reference:
    """A reference image prepared once, to score many distorted versions of it.

    >>> ref = Reference(original)          # uint8 HxWx3 (sRGB) or HxW (grey)
    >>> ref.score(candidate)               # == score(original, candidate)

    Keeps ~45 bytes per pixel (RGB reference; ~20 for grey).
    """

    def __init__(self, reference: NDArray[np.uint8]) -> None:
        a = _check(reference, "reference")
        self.shape: tuple[int, int] = (a.shape[0], a.shape[1])
        self.grey = a.ndim == 2
        # kept to return exactly 100 for an identical candidate, and for a grey reference
        # scored against an RGB candidate (which falls back to score())
        self._src = a.copy()
        self._plans = _plans(a.shape[0], a.shape[1], self.grey)
        self._x1: list[dict[int, Arr]] = []
        self._bands: list[list[_RefBand]] = []
        cur: U8 | Arr = a
        for s, pl in enumerate(self._plans):
            x1p, nxt = _convert(cur, self.grey, s + 1 < len(self._plans))
            blr = _Blur(len(pl.chans) + len(pl.ssim), pl.hb, pl.w)
            bands = []
            for y0, hb in pl.bands:
                _fill_ref(pl, blr, x1p, blr.start(y0, hb))
                bands.append(_ref_band(pl, x1p, y0, hb, blr.run(), None))
            self._bands.append(bands)
            # keep only the XYB planes that (x1 - x2)^2 needs
            self._x1.append({c: x1p[pl.plane[c]].copy() for c in pl.ssim})
            del x1p
            if nxt is not None:
                cur = nxt

    def score(self, distorted: NDArray[np.uint8]) -> float:
        """SSIMULACRA2 of `distorted` against this reference (100 = identical)."""
        b = _check(distorted, "distorted")
        _same_size(self.shape, b)
        if self.grey and b.ndim == 3:
            return score(self._src, b)
        if b.shape == self._src.shape and np.array_equal(b, self._src):
            return 100.0
        cur: U8 | Arr = b if b.ndim == 3 or self.grey else _as_rgb(b)
        sums: list[F64] = []
        for s, pl in enumerate(self._plans):
            x2p, nxt = _convert(cur, self.grey, s + 1 < len(self._plans))
            blr = _Blur(len(pl.chans) + 2 * len(pl.ssim), pl.hb, pl.w)
            acc = np.zeros((3, 6))
            for (y0, hb), rb in zip(pl.bands, self._bands[s], strict=True):
                _fill_dist(pl, blr, self._x1[s], x2p, blr.start(y0, hb), 0, fused=False)
                bl = blr.run()
                _dist_band(pl, rb, x2p, y0, hb, bl, 0, False, blr, acc)
            sums.append(acc)
            if nxt is not None:
                cur = nxt
        return _combine(self._plans, sums)


def _same_size(shape: tuple[int, int], b: U8) -> None:
    if b.shape[:2] != shape:
        raise ValueError(
            f"images must have the same height and width: reference "
            f"{shape[1]}x{shape[0]}, distorted {b.shape[1]}x{b.shape[0]}"
        )


def score(reference: NDArray[np.uint8], distorted: NDArray[np.uint8]) -> float:
    """SSIMULACRA2 of `distorted` against `reference`, as ssimulacra2 0.3.0 computes it.

    Both uint8, HxWx3 sRGB or HxW greyscale (R = G = B; one of each is allowed), same height
    and width, each side >= 8 px (else ValueError). 100 = identical; ~90 visually lossless,
    ~70 high, ~50 medium, ~30 low quality; can go below 0.
    """
    a = _check(reference, "reference")
    b = _check(distorted, "distorted")
    _same_size((a.shape[0], a.shape[1]), b)
    if a.shape == b.shape and np.array_equal(a, b):
        return 100.0  # what the package returns; float32 rounding could leave 99.99..
    grey = a.ndim == 2 and b.ndim == 2
    if not grey:
        a, b = _as_rgb(a), _as_rgb(b)
    plans = _plans(a.shape[0], a.shape[1], grey)
    ca: U8 | Arr = a
    cb: U8 | Arr = b
    sums: list[F64] = []
    for s, pl in enumerate(plans):
        more = s + 1 < len(plans)
        x1p, na = _convert(ca, grey, more)
        x2p, nb = _convert(cb, grey, more)
        nref = len(pl.chans)
        blr = _Blur(nref + len(pl.chans) + 2 * len(pl.ssim), pl.hb, pl.w)
        acc = np.zeros((3, 6))
        x1 = {c: x1p[pl.plane[c]] for c in pl.ssim}
        work = np.empty((2 * len(pl.edge), pl.hb, pl.w), F32)
        for y0, hb in pl.bands:
            rows = blr.start(y0, hb)
            for k, c in enumerate(pl.chans):  # x1 only: blur(x1^2) is fused with blur(x2^2)
                np.copyto(blr.slot(k), x1p[pl.plane[c], rows])
            _fill_dist(pl, blr, x1, x2p, rows, nref, fused=True)
            bl = blr.run()
            rb = _ref_band(pl, x1p, y0, hb, bl, work)
            _dist_band(pl, rb, x2p, y0, hb, bl, nref, True, blr, acc)
        sums.append(acc)
        if na is not None and nb is not None:
            ca, cb = na, nb
    return _combine(plans, sums)
