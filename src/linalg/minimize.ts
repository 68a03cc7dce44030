/**
 * Bounded scalar minimisation by Brent's method (golden-section search with parabolic steps), the
 * algorithm of scipy.optimize.minimize_scalar(method='bounded') / fminbound, which the EVBMF
 * reference implementations use to estimate the noise variance. Same steps and stopping rule, so the
 * numpy-only port in scripts/make-linalg-fixtures.py lands on the same point.
 */

export interface ScalarMinimum {
  x: number;
  fx: number;
  evaluations: number;
  converged: boolean;
}

export interface BoundedOptions {
  /** Absolute tolerance on x (scipy's xatol). Default 1e-5. */
  xatol?: number;
  /** Maximum function evaluations. Default 500. */
  maxEvaluations?: number;
}

const SQRT_EPS = Math.sqrt(2.2e-16);
const GOLDEN = 0.5 * (3 - Math.sqrt(5));

export function minimizeBounded(f: (x: number) => number, lower: number, upper: number, options: BoundedOptions = {}): ScalarMinimum {
  if (!(lower <= upper)) throw new RangeError(`minimizeBounded: lower bound ${lower} exceeds upper bound ${upper}`);
  const xatol = options.xatol ?? 1e-5;
  const maxFun = options.maxEvaluations ?? 500;
  let a = lower, b = upper;
  // xf: best point so far; nfc: second best; fulc: previous value of nfc.
  let fulc = a + GOLDEN * (b - a);
  let nfc = fulc, xf = fulc;
  let rat = 0, e = 0;
  let fx = f(xf);
  let num = 1;
  let ffulc = fx, fnfc = fx;
  let xm = 0.5 * (a + b);
  let tol1 = SQRT_EPS * Math.abs(xf) + xatol / 3;
  let tol2 = 2 * tol1;
  let converged = true;

  while (Math.abs(xf - xm) > tol2 - 0.5 * (b - a)) {
    let golden = true;
    if (Math.abs(e) > tol1) {
      golden = false;
      let r = (xf - nfc) * (fx - ffulc);
      let q = (xf - fulc) * (fx - fnfc);
      let p = (xf - fulc) * q - (xf - nfc) * r;
      q = 2 * (q - r);
      if (q > 0) p = -p;
      q = Math.abs(q);
      r = e;
      e = rat;
      if (Math.abs(p) < Math.abs(0.5 * q * r) && p > q * (a - xf) && p < q * (b - xf)) {
        rat = p / q;
        const x = xf + rat;
        if (x - a < tol2 || b - x < tol2) rat = tol1 * (Math.sign(xm - xf) + (xm - xf === 0 ? 1 : 0));
      } else {
        golden = true;
      }
    }
    if (golden) {
      e = xf >= xm ? a - xf : b - xf;
      rat = GOLDEN * e;
    }
    const si = Math.sign(rat) + (rat === 0 ? 1 : 0);
    const x = xf + si * Math.max(Math.abs(rat), tol1);
    const fu = f(x);
    num++;
    if (fu <= fx) {
      if (x >= xf) a = xf;
      else b = xf;
      fulc = nfc; ffulc = fnfc;
      nfc = xf; fnfc = fx;
      xf = x; fx = fu;
    } else {
      if (x < xf) a = x;
      else b = x;
      if (fu <= fnfc || nfc === xf) {
        fulc = nfc; ffulc = fnfc;
        nfc = x; fnfc = fu;
      } else if (fu <= ffulc || fulc === xf || fulc === nfc) {
        fulc = x; ffulc = fu;
      }
    }
    xm = 0.5 * (a + b);
    tol1 = SQRT_EPS * Math.abs(xf) + xatol / 3;
    tol2 = 2 * tol1;
    if (num >= maxFun) {
      converged = false;
      break;
    }
  }
  return { x: xf, fx, evaluations: num, converged };
}
