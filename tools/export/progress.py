"""Progress of the exporter: numbered steps with the elapsed time and what
comes next, a heartbeat while a long step runs (exporting the full-size
image encoder takes minutes, more on a busy machine), and the closing
summary. No torch here, so it is tested on its own (test_progress.py)."""

import os
import threading
import time


def clock_text(seconds):
    """0:07, 4:35, 1:02:03."""
    s = int(seconds)
    h, m, s = s // 3600, s // 60 % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Steps announced in order: start(name) logs "[2/7 0:41] exporting
    mask_decoder (next: ...)", done() logs how long the step took. While a
    step runs, a line every `heartbeat` seconds says it is still running."""

    def __init__(self, steps, log=print, clock=time.monotonic, heartbeat=30.0):
        self.steps = list(steps)
        self.log = log
        self.clock = clock
        self.heartbeat = heartbeat
        self.t0 = clock()
        self.index = 0  # steps started
        self.current = None
        self.step_t0 = None
        self.took = {}  # step -> seconds
        self._stop = None
        self._thread = None

    def elapsed(self):
        return self.clock() - self.t0

    def start(self, step):
        if self.current is not None:
            self.done()
        if step not in self.steps:
            self.steps.insert(self.index, step)
        self.index = self.steps.index(step) + 1
        self.current, self.step_t0 = step, self.clock()
        nxt = self.steps[self.index] if self.index < len(self.steps) else "the summary"
        self.log(f"[{self.index}/{len(self.steps)} {clock_text(self.elapsed())}] {step} (next: {nxt})")
        if self.heartbeat and self.heartbeat > 0:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._beat, args=(step, self.step_t0, self._stop), daemon=True)
            self._thread.start()

    def _beat(self, step, since, stop):
        while not stop.wait(self.heartbeat):
            self.log(f"  ... still {step}: {clock_text(self.clock() - since)} in this step, "
                     f"{clock_text(self.elapsed())} in all")

    def done(self, detail=""):
        if self.current is None:
            return
        if self._stop is not None:
            self._stop.set()
            self._thread.join()
            self._stop = self._thread = None
        took = self.clock() - self.step_t0
        self.took[self.current] = took
        self.log(f"  {self.current}: done in {took:.1f}s" + (f"; {detail}" if detail else ""))
        self.current = None


def summary(out_dir, elapsed, check=None, stats=None):
    """The closing lines: each file's size, the total, the self-check's
    verdict with its worst errors, and the time taken. check is None when
    the self-check was skipped, else True/False; stats maps graph ->
    {output: (max abs error, relative error)}."""
    lines = [f"summary: {out_dir}"]
    total = 0
    for f in sorted(os.listdir(out_dir)):
        p = os.path.join(out_dir, f)
        if os.path.isfile(p):
            n = os.path.getsize(p)
            total += n
            lines.append(f"  {f:<28} {size_text(n):>9}")
    lines.append(f"  {'total':<28} {size_text(total):>9}")
    if check is None:
        lines.append("  self-check: skipped (--skip-check)")
    else:
        lines.append("  self-check: " + ("passed" if check else "FAILED"))
        for name, outs in (stats or {}).items():
            worst = max(outs.items(), key=lambda kv: kv[1][1]) if outs else None
            if worst:
                lines.append(f"    {name}: worst {worst[0]} {worst[1][0]:.3g} (relative {worst[1][1]:.2g})")
    lines.append(f"  time: {clock_text(elapsed)}")
    return lines


def size_text(n):
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"
