"""int8 is refused where it fails the fidelity gate (issue 30). Needs numpy
only (int8.py imports it), not torch."""

import unittest

try:
    import int8
except ImportError as e:  # numpy missing: nothing of int8 can run either
    int8 = None
    missing = str(e)


@unittest.skipIf(int8 is None, "int8.py needs numpy")
class Int8Gate(unittest.TestCase):
    def test_refused_with_numbers(self):
        for v in ("sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2_hiera_l"):
            why = int8.refusal(v)
            self.assertIsNotNone(why, v)
            self.assertIn(v, why)
            self.assertIn("--int8-below-gate", why)
        self.assertIn("0.9860", int8.refusal("sam2.1_hiera_t"))
        self.assertIn("0.854", int8.refusal("sam2.1_hiera_s"))
        self.assertIn("not measured", int8.refusal("sam2.1_hiera_l"))

    def test_passing_variant_not_refused(self):
        saved = int8.PASSES_GATE
        try:
            int8.PASSES_GATE = frozenset({"sam2.1_hiera_s"})
            self.assertIsNone(int8.refusal("sam2.1_hiera_s"))
        finally:
            int8.PASSES_GATE = saved


if __name__ == "__main__":
    unittest.main()
