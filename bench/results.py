"""Everything one benchmark run measured, and the figures derived from it for the goals."""

from dataclasses import dataclass, field

from bench import procs
from bench.codec import CodecResult
from bench.fairness import FairnessResult
from bench.latency import LatencyResult
from bench.page import PageResult
from bench.perceptual import PerceptualResult
from bench.pipeline import PipelineResult
from bench.quality import OURS, SEED, ImageRow
from bench.replicas import ReplicaRun
from bench.rerun import RerunResult
from bench.scale import ScaleResult


@dataclass
class Results:
    smoke: bool
    command: str
    machine: dict[str, str]
    corpus: str
    images: int
    started: str
    codec: dict[str, CodecResult] = field(default_factory=dict)
    quality: list[ImageRow] = field(default_factory=list)
    perceptual: PerceptualResult | None = None
    pipeline: PipelineResult | None = None
    profiled: PipelineResult | None = None
    latency: LatencyResult | None = None
    replicas: list[ReplicaRun] = field(default_factory=list)
    scales: list[ScaleResult] = field(default_factory=list)  # one per CSV size, smallest first
    profiled_scale: ScaleResult | None = None  # the smallest again, py-spy attached: its profile
    page: PageResult | None = None  # the web page on the largest of them
    rerun: RerunResult | None = None
    fairness: FairnessResult | None = None
    fairness_million: FairnessResult | None = None  # beside a 1,000,000-URL request
    durations_s: dict[str, float] = field(default_factory=dict)
    load_after: dict[str, str] = field(default_factory=dict)
    total_s: float = 0.0

    # --- derived figures ------------------------------------------------------------------

    def pipeline_ratio(self, loop: str = "bare") -> float | None:
        """Pipeline images/s ÷ the codec limit's images/s (same cores, same image mix)."""
        if self.pipeline is None or loop not in self.codec:
            return None
        return self.pipeline.images_per_s / self.codec[loop].images_per_s

    def ours_cpu_per_image_ms(self) -> float | None:
        if self.pipeline is None:
            return None
        return 1000 * self.pipeline.cpu_of(procs.OURS) / self.pipeline.urls

    def cpu_overhead(self, loop: str = "bare") -> float | None:
        """Our functions' CPU per image ÷ the codec loop's CPU per image."""
        ours = self.ours_cpu_per_image_ms()
        if ours is None or loop not in self.codec:
            return None
        return ours / self.codec[loop].cpu_ms_per_image

    def bytes_ratio(self, setting: str = OURS) -> float | None:
        rows = [r for r in self.quality if setting in r.results]
        if not rows:
            return None
        return sum(r.results[setting].bytes for r in rows) / sum(
            r.results[SEED].bytes for r in rows
        )

    def below_seed(self, setting: str = OURS) -> list[str]:
        """Images whose SSIM under `setting` is below the seed's."""
        return [
            r.name
            for r in self.quality
            if setting in r.results and r.results[setting].ssim < r.results[SEED].ssim
        ]

    def peak_rss(self) -> tuple[str, float] | None:
        """The largest peak RSS (MiB) of any function process over the pipeline and scale runs."""
        runs = [("pipeline", self.pipeline), *((f"{s.urls:,} URLs", s) for s in self.scales)]
        peaks = {
            f"{name} ({run})": mib
            for run, result in runs
            if result is not None
            for name, mib in result.peak_rss_mib.items()
        }
        return max(peaks.items(), key=lambda kv: kv[1]) if peaks else None

    def replica_speedup(self, pinned: bool) -> float | None:
        """2 replicas' rate ÷ 1 replica's, both free to use every core or both pinned."""
        rate = {x.replicas: x.images_per_s for x in self.replicas if x.pinned == pinned}
        if not rate.get(1) or 2 not in rate:
            return None
        return rate[2] / rate[1]
