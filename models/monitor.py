"""Peak memory of one trial: host RSS sampled in a thread (ru_maxrss is per process lifetime,
useless for the second trial of a worker) and, on CUDA, torch's peak allocation."""
from __future__ import annotations

import sys
import threading


class PeakMemory:
    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self.peak_rss = 0
        self.peak_cuda = None
        self._stop = threading.Event()
        self._thread = None

    def _sample(self) -> None:
        import psutil

        proc = psutil.Process()
        while True:
            self.peak_rss = max(self.peak_rss, proc.memory_info().rss)
            if self._stop.wait(self.interval):
                return

    def __enter__(self):
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="peak-memory")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            self.peak_cuda = torch.cuda.max_memory_allocated()
        return False

    def as_extra(self) -> dict:
        out = {"peak_rss_mb": round(self.peak_rss / 2**20, 1)}
        if self.peak_cuda is not None:
            out["peak_cuda_mb"] = round(self.peak_cuda / 2**20, 1)
        return out
