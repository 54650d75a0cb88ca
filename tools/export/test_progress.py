"""Tests of progress.py (no torch needed):
/usr/bin/python3 -m unittest discover -s tools/export -p 'test_*.py'"""

import os
import tempfile
import threading
import unittest

from progress import Progress, clock_text, summary


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class ProgressTest(unittest.TestCase):
    def test_steps_say_elapsed_and_next(self):
        lines, clock = [], FakeClock()
        p = Progress(["build model", "export image_encoder", "self-check"], log=lines.append, clock=clock, heartbeat=0)
        clock.t = 5
        p.start("build model")
        clock.t = 12.5
        p.start("export image_encoder")  # ends the previous step
        clock.t = 312
        p.done("142.0 MB")
        p.start("self-check")
        p.done()
        self.assertEqual(lines, [
            "[1/3 0:05] build model (next: export image_encoder)",
            "  build model: done in 7.5s",
            "[2/3 0:12] export image_encoder (next: self-check)",
            "  export image_encoder: done in 299.5s; 142.0 MB",
            "[3/3 5:12] self-check (next: the summary)",
            "  self-check: done in 0.0s",
        ])

    def test_unplanned_step_is_counted(self):
        lines = []
        p = Progress(["a", "b"], log=lines.append, clock=FakeClock(), heartbeat=0)
        p.start("a")
        p.start("int8")
        self.assertIn("[2/3 0:00] int8 (next: b)", lines)

    def test_heartbeat_while_a_step_runs(self):
        lines, beat = [], threading.Event()

        def log(line):
            lines.append(line)
            if "still" in line:
                beat.set()

        p = Progress(["export image_encoder"], log=log, heartbeat=0.01)
        p.start("export image_encoder")
        self.assertTrue(beat.wait(60), "no heartbeat line")
        p.done()
        n = len(lines)
        self.assertTrue(lines[-1].startswith("  export image_encoder: done"))
        # The heartbeat stopped with the step.
        threading.Event().wait(0.05)
        self.assertEqual(len(lines), n)
        self.assertTrue(any(l.startswith("  ... still export image_encoder: ") and "in this step" in l for l in lines))

    def test_clock_text(self):
        self.assertEqual([clock_text(s) for s in (0, 7.9, 275, 3723)], ["0:00", "0:07", "4:35", "1:02:03"])


class SummaryTest(unittest.TestCase):
    def test_sizes_and_check(self):
        with tempfile.TemporaryDirectory() as d:
            for name, n in (("image_encoder.onnx", 3 << 20), ("manifest.json", 800)):
                with open(os.path.join(d, name), "wb") as f:
                    f.write(b"\0" * n)
            lines = summary(d, 301, check=True, stats={"mask_decoder": {"masks": (2e-4, 1e-5), "iou": (1e-3, 3e-4)}})
            text = "\n".join(lines)
            self.assertIn("image_encoder.onnx", text)
            self.assertIn("3.0 MB", text)
            self.assertIn("800 B", text)
            self.assertIn("self-check: passed", text)
            self.assertIn("mask_decoder: worst iou 0.001 (relative 0.0003)", text)
            self.assertIn("time: 5:01", text)
            self.assertIn("self-check: skipped", "\n".join(summary(d, 1)))
            self.assertIn("self-check: FAILED", "\n".join(summary(d, 1, check=False)))


if __name__ == "__main__":
    unittest.main()
