#!/usr/bin/env python3
"""The reference side of Benchmarks/eval.sh: lvis-api (or pycocotools) on the same files,
printing wall time, peak resident memory and every metric at full precision."""
import contextlib
import io
import json
import resource
import sys
import time


def main():
    gt, dt, iou_type, fmt = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    start = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        if fmt == "lvis":
            from lvis import LVISEval
            e = LVISEval(gt, dt, iou_type)
            e.run()
            metrics = {k: float(v) for k, v in e.results.items()}
        else:
            from pycocotools.coco import COCO
            from pycocotools.cocoeval import COCOeval
            g = COCO(gt)
            e = COCOeval(g, g.loadRes(dt), iou_type)
            e.evaluate()
            e.accumulate()
            e.summarize()
            keys = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
            metrics = dict(zip(keys, (float(v) for v in e.stats)))
    wall = time.time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
    print("reference: wall %.2f s, cpu %.2f s, peak RSS %.0f MB, AP %.6f" % (wall, cpu, peak, metrics["AP"]))
    print("reference metrics: " + json.dumps(metrics))


if __name__ == "__main__":
    main()
