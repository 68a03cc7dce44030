#!/usr/bin/env python3
"""Write the tiny .npy files that test/data/npy.test.ts reads (run from the repo root).

Each array's values follow a simple formula that the test recomputes, so the fixtures are checked
against numpy's own writer without a second copy of the data in the test.
"""
import os
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "npy")


def save(name, arr, version=None):
    path = os.path.join(OUT, name + ".npy")
    if version is None:
        np.save(path, arr)
    else:
        with open(path, "wb") as f:
            np.lib.format.write_array(f, arr, version=version)


def main():
    os.makedirs(OUT, exist_ok=True)
    # value(i) = i * 0.5 - 3 over the flat C-order index, for the float/int types that can hold it
    # (ints use i - 3); shapes cover 0-d, 1-d, 2-d and 3-d.
    save("f4_2x3", (np.arange(6, dtype="<f4") * 0.5 - 3).reshape(2, 3))
    save("f8_4", np.arange(4, dtype="<f8") * 0.5 - 3)
    save("i4_3x2", (np.arange(6, dtype="<i4") - 3).reshape(3, 2))
    save("i8_2x2", np.array([[-3, 2**40], [-(2**40), 7]], dtype="<i8"))
    save("u1_2x2x2", np.arange(8, dtype="|u1").reshape(2, 2, 2) * 30)
    save("i2_5", np.arange(5, dtype="<i2") * 1000 - 2000)
    save("b1_4", np.array([True, False, False, True]))
    save("f4_scalar", np.array(1.5, dtype="<f4"))
    save("f4_0x3", np.zeros((0, 3), dtype="<f4"))
    save("f4_v2_3", np.arange(3, dtype="<f4") * 0.5 - 3, version=(2, 0))
    save("f4_fortran_2x3", np.asfortranarray((np.arange(6, dtype="<f4") * 0.5 - 3).reshape(2, 3)))
    save("f4_bigendian_3", np.arange(3, dtype=">f4"))


if __name__ == "__main__":
    main()
