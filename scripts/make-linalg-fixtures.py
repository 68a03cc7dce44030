#!/usr/bin/env python3
"""Write test/fixtures/linalg/linalg.json, which test/linalg/*.test.ts and test/decompose/vbmf.test.ts
check src/linalg and src/decompose/vbmf.ts against (run from anywhere; numpy only).

Matrices are not stored: both sides generate them from a Park-Miller stream (seed * 48271 mod 2^31-1,
exact in float64 because the product stays below 2^53), value = state / (2^31 - 1) - 0.5. A case with
`rank` r builds Y = A B^T + noise * N with A (rows x r), B (cols x r) and N (rows x cols) filled in
that order, row-major, from one stream; with r = 0 it is noise * N.

Stored per case: numpy's singular values (LAPACK gesdd) and the result of an EVBMF reference written
here in numpy: the analytic solution of Nakajima et al. (JMLR 2013), following the structure of the
public Python port of their MATLAB code (EVBMF, EVBsigma2, tau), with scipy's bounded Brent search
(fminbound) ported below since scipy is not available. Two deliberate deviations, shared with
src/decompose/vbmf.ts: sigma^2 is searched in units of its lower bound (scipy's absolute xatol = 1e-5
is meaningless for the small variances of network weights), and singular values are floored at
1e-8 * s_1.
"""
import json
import math
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "linalg")

PM_MOD = 2147483647


class ParkMiller:
    def __init__(self, seed):
        self.state = seed % PM_MOD or 1

    def next(self):
        self.state = (self.state * 48271) % PM_MOD
        return self.state / PM_MOD - 0.5


def generate(rows, cols, rank, noise, seed):
    rng = ParkMiller(seed)
    a = np.array([rng.next() for _ in range(rows * rank)]).reshape(rows, rank)
    b = np.array([rng.next() for _ in range(cols * rank)]).reshape(cols, rank)
    n = np.array([rng.next() for _ in range(rows * cols)]).reshape(rows, cols)
    return a @ b.T + noise * n


# scipy.optimize._optimize._minimize_scalar_bounded (fminbound), same steps and stopping rule.
def fminbound(f, x1, x2, xatol=1e-5, maxfun=500):
    sqrt_eps = math.sqrt(2.2e-16)
    golden_mean = 0.5 * (3.0 - math.sqrt(5.0))
    a, b = x1, x2
    fulc = a + golden_mean * (b - a)
    nfc, xf = fulc, fulc
    rat = e = 0.0
    fx = f(xf)
    num = 1
    ffulc = fnfc = fx
    xm = 0.5 * (a + b)
    tol1 = sqrt_eps * abs(xf) + xatol / 3.0
    tol2 = 2.0 * tol1
    while abs(xf - xm) > (tol2 - 0.5 * (b - a)):
        golden = True
        if abs(e) > tol1:
            golden = False
            r = (xf - nfc) * (fx - ffulc)
            q = (xf - fulc) * (fx - fnfc)
            p = (xf - fulc) * q - (xf - nfc) * r
            q = 2.0 * (q - r)
            if q > 0.0:
                p = -p
            q = abs(q)
            r = e
            e = rat
            if abs(p) < abs(0.5 * q * r) and p > q * (a - xf) and p < q * (b - xf):
                rat = p / q
                x = xf + rat
                if (x - a) < tol2 or (b - x) < tol2:
                    rat = tol1 * (np.sign(xm - xf) + ((xm - xf) == 0))
            else:
                golden = True
        if golden:
            e = (a - xf) if xf >= xm else (b - xf)
            rat = golden_mean * e
        si = np.sign(rat) + (rat == 0)
        x = xf + si * max(abs(rat), tol1)
        fu = f(x)
        num += 1
        if fu <= fx:
            if x >= xf:
                a = xf
            else:
                b = xf
            fulc, ffulc = nfc, fnfc
            nfc, fnfc = xf, fx
            xf, fx = x, fu
        else:
            if x < xf:
                a = x
            else:
                b = x
            if fu <= fnfc or nfc == xf:
                fulc, ffulc = nfc, fnfc
                nfc, fnfc = x, fu
            elif fu <= ffulc or fulc == xf or fulc == nfc:
                fulc, ffulc = x, fu
        xm = 0.5 * (a + b)
        tol1 = sqrt_eps * abs(xf) + xatol / 3.0
        tol2 = 2.0 * tol1
        if num >= maxfun:
            break
    return xf


def tau(x, alpha):
    return 0.5 * (x - (1 + alpha) + np.sqrt((x - (1 + alpha)) ** 2 - 4 * alpha))


def evb_sigma2(sigma2, L, M, sq, residual, xubar):
    H = len(sq)
    alpha = L / M
    x = sq / (M * sigma2)
    z1 = x[x > xubar]
    z2 = x[x <= xubar]
    tau_z1 = tau(z1, alpha)
    term1 = np.sum(z2 - np.log(z2))
    term2 = np.sum(z1 - tau_z1)
    term3 = np.sum(np.log((tau_z1 + 1) / z1))
    term4 = alpha * np.sum(np.log(tau_z1 / alpha + 1))
    return term1 + term2 + term3 + term4 + residual / (M * sigma2) + (L - H) * np.log(sigma2)


def evbmf(y):
    if y.shape[0] > y.shape[1]:
        y = y.T
    L, M = y.shape
    H = L
    alpha = L / M
    tauubar = 2.5129 * np.sqrt(alpha)
    s = np.linalg.svd(y, compute_uv=False)
    s = np.maximum(s, s[0] * 1e-8)
    residual = 0.0
    xubar = (1 + tauubar) * (1 + alpha / tauubar)
    eH_ub = int(min(math.ceil(L / (1 + alpha)) - 1, H)) - 1
    upper_bound = (np.sum(s ** 2) + residual) / (L * M)
    lower_bound = max(s[eH_ub + 1] ** 2 / (M * xubar), np.mean(s[eH_ub + 1:] ** 2) / M)
    scale = 1.0 / lower_bound
    sq = s ** 2 * scale
    t = fminbound(lambda v: evb_sigma2(v, L, M, sq, residual * scale, xubar), 1.0, upper_bound * scale)
    sigma2 = t / scale
    threshold = np.sqrt(M * sigma2 * (1 + tauubar) * (1 + alpha / tauubar))
    rank = int(np.sum(s > threshold))
    return {"rank": rank, "sigma2": float(sigma2), "threshold": float(threshold)}


CASES = [
    # name, rows, cols, true rank, noise, seed
    ("wide_rank5", 40, 60, 5, 0.02, 11),
    ("tall_rank8", 72, 48, 8, 0.02, 12),
    ("square_rank3", 50, 50, 3, 0.05, 13),
    ("conv_like_rank12", 32, 288, 12, 0.01, 14),
    ("noise_only", 30, 45, 0, 1.0, 15),
    ("small_dense", 7, 11, 7, 0.0, 16),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, rows, cols, rank, noise, seed in CASES:
        y = generate(rows, cols, rank, noise, seed)
        s = np.linalg.svd(y, compute_uv=False)
        cases.append({
            "name": name, "rows": rows, "cols": cols, "rank": rank, "noise": noise, "seed": seed,
            "singularValues": [float(v) for v in s],
            "evbmf": evbmf(y),
        })
    with open(os.path.join(OUT, "linalg.json"), "w") as f:
        json.dump({"generator": "park-miller-48271", "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(c["name"], "true rank", c["rank"], "evbmf", c["evbmf"])


if __name__ == "__main__":
    main()
