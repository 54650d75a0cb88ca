"""Summarize ONNX Runtime profiles (framebench --ort-profile PREFIX): per
graph, time per provider and the op types that take the most time, averaged
over the runs after the first (the first run plans and searches kernels).

    python3 tools/gpu/ortprof.py PREFIX*.json
"""

import collections
import json
import sys


def main(paths):
    for path in sorted(paths):
        events = json.load(open(path))
        runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
        nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
        if not runs:
            continue
        first_end = runs[0]["ts"] + runs[0]["dur"]
        later = [n for n in nodes if n["ts"] > first_end]
        n_runs = max(len(runs) - 1, 1)
        run_ms = sum(r["dur"] for r in runs[1:]) / 1000 / n_runs
        by_prov = collections.Counter()
        by_op = collections.Counter()
        count = collections.Counter()
        for n in later:
            a = n.get("args", {})
            prov = a.get("provider", "?").replace("ExecutionProvider", "")
            by_prov[prov] += n["dur"]
            by_op[(a.get("op_name", "?"), prov)] += n["dur"]
            count[(a.get("op_name", "?"), prov)] += 1
        name = path.rsplit("/", 1)[-1].split("__")[0]
        kernels = sum(by_prov.values()) / 1000 / n_runs
        print(f"{name}: {n_runs} runs, model_run {run_ms:.2f} ms, kernels {kernels:.2f} ms, "
              + ", ".join(f"{p} {v / 1000 / n_runs:.2f} ms" for p, v in by_prov.most_common()))
        for (op, prov), v in by_op.most_common(12):
            print(f"    {op:28} {prov:5} {v / 1000 / n_runs:8.3f} ms  x{count[(op, prov)] // n_runs}")


if __name__ == "__main__":
    main(sys.argv[1:])
