"""Markdown and one-line summaries of a ``scripts/bench_gpu.py`` run (stdlib only: the parent renders them).

Every phase may be missing or cut short, so every figure is read with a default and a table
shows the rows it has.
"""

from __future__ import annotations

from datetime import date
from typing import Any

Results = dict[str, Any]


def markdown(results: Results) -> str:
    """The section for docs/benchmarks.md (between ``<!-- gpu:start -->`` and ``<!-- gpu:end -->``)."""
    lines = [_header(results), ""]
    lines += _phase_notes(results)
    lines += _engine(results.get("engine") or {})
    lines += _pipelines("GPU", results.get("gpu") or {}, scaling=False)
    lines += _pipelines("CPU", results.get("cpu") or {}, scaling=True)
    lines += _baseline(results.get("baseline") or {})
    lines += _notes((results.get("env") or {}).get("plan") or {})
    return "\n".join(lines).rstrip() + "\n"


def summary(name: str, results: Results) -> str:
    """One line for the console after a phase."""
    data = results.get(name) or {}
    if name == "env":
        gpu = data.get("gpu") or {}
        ort = data.get("onnxruntime") or {}
        return (
            f"{gpu.get('name', 'no GPU')} driver {gpu.get('driver', '?')} CUDA {data.get('cuda_version', '?')}; "
            f"onnxruntime {ort.get('version', '?')} {ort.get('providers', '?')}; cuda_available "
            f"{data.get('cuda_available')}; {(data.get('cpu') or {}).get('count', '?')} cores; "
            f"children import swtts: {data.get('children_import_swtts')}"
        )
    if name == "engine":
        batched, versus = data.get("batched_vs_one") or {}, data.get("gpu_vs_cpu") or {}
        times = data.get("batching_s") or {}
        ratios = ", ".join(f"x{size}: {_ratio(t, times.get('1'))}" for size, t in times.items() if size != "1")
        return (
            f"on {(data.get('device') or {}).get('engine', '?')}: batched = one at a time {_verdict(batched)} "
            f"(max diff {batched.get('max_body_diff', '?')}); GPU vs CPU {_verdict(versus)} "
            f"(corr {_num(versus.get('correlation'), '.5f')}); batch time / one at a time {ratios or '?'}"
        )
    if name in ("gpu", "cpu"):
        article = data.get("article") or {}
        best = max(article.items(), key=lambda kv: _rate(kv[1]) or 0.0, default=None)
        short = data.get("short") or {}
        fastest = min((f.get("median_ms") for f in short.values() if f.get("median_ms")), default=None)
        audio = data.get("audio") or {}
        checks = [*(audio.get("batching_on_vs_off") or {}).values(), audio.get("gpu_vs_cpu") or {}]
        return (
            f"{len(data.get('workers') or {})} pipelines up in {_num(data.get('start_s'), '.0f')} s; short reply "
            f"best median {_num(fastest, '.1f')} ms; article best {_num(_rate(best[1]) if best else None, '.0f')} "
            f"audio s/s ({best[0] if best else '-'}); load settings {len(data.get('load') or {})}; audio checks "
            f"{' '.join(_verdict(c) for c in checks if c) or '-'}"
        )
    runs = data.get("article") or {}
    return "; ".join(
        f"{label}: {_num(_rate(run), '.0f')} audio s/s" if isinstance(run, dict) else f"{label}: {run}"
        for label, run in runs.items()
    )


def _header(results: Results) -> str:
    meta, env = results.get("meta") or {}, results.get("env") or {}
    gpu, ort, cpu = env.get("gpu") or {}, env.get("onnxruntime") or {}, env.get("cpu") or {}
    line = (
        f"GPU: {gpu.get('name', 'none found')} ({gpu.get('memory_total', '?')}), driver {gpu.get('driver', '?')}, "
        f"CUDA {env.get('cuda_version', '?')}; onnxruntime {ort.get('version', '?')} (providers "
        f"{', '.join(ort.get('providers') or []) or '?'}); CPU: {cpu.get('model', '?')}, {cpu.get('count', '?')} "
        f"cores; Python {env.get('python', '?')}; {meta.get('date', date.today().isoformat())}; commit "
        f"{meta.get('commit', '?')}. One run of `scripts/bench_gpu.py` (budget {meta.get('budget_s', '?')} s, "
        f"took {_num(meta.get('wall_s'), '.0f')} s), cache off everywhere."
    )
    if meta.get("rehearse"):
        line += " **Rehearsal on a CPU-only machine: every 'GPU' figure here ran on the CPU, with small sizes.**"
    return line


def _phase_notes(results: Results) -> list[str]:
    notes = [
        f"{name} {info.get('status')}" + (f" ({info['error']})" if info.get("error") else "")
        for name, info in (results.get("phases") or {}).items()
        if info.get("status") != "ok"
    ]
    return [f"Phases not completed: {'; '.join(notes)}. Their tables show what they had measured.", ""] if notes else []


def _engine(data: Results) -> list[str]:
    if not data:
        return []
    device = data.get("device") or {}
    batched, versus = data.get("batched_vs_one") or {}, data.get("gpu_vs_cpu") or {}
    lines = [
        f"In-process engine on {device.get('engine', '?')} (providers {', '.join(device.get('providers') or [])}), "
        "noise off, four sentences of `tests/test_engine.py`:",
        "",
        f"- batched vs one at a time (the CPU tests' rule: same lengths, at most {batched.get('tolerance', '?')} apart "
        f"outside each chunk's last {batched.get('tail_samples', '?')} samples): {_comparison(batched)}, forward "
        f"passes of {batched.get('batch_sizes', '?')} rows;",
        f"- GPU vs CPU (same lengths, correlation at least 0.99): {_comparison(versus)}.",
        "",
    ]
    times, sentences = data.get("batching_s") or {}, data.get("sentences") or {}
    if times:
        one = (times.get("1") or {}).get("median")
        padding = data.get("padding") or {}
        lines += [
            f"{sentences.get('count', '?')} article sentences ({sentences.get('phoneme_ids', '?')} phoneme ids) "
            f"on {device.get('engine', '?')}, medians:",
            "",
            "| speaking the sentences | wall s | ÷ one at a time | padding, document order | padding, sorted (the worker) | n |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for size, figures in times.items():
            in_order, by_length = padding.get(size) or [None, None]
            label = "one at a time" if size == "1" else f"sorted batches of {size}"
            lines.append(
                f"| {label} | {_num(figures.get('median'), '.3f')} | {_ratio(figures, one)} | {_pct(in_order)} "
                f"| {_pct(by_length)} | {figures.get('n', '?')} |"
            )
        lines.append("")
    return lines


def _pipelines(kind: str, data: Results, scaling: bool) -> list[str]:
    if not data:
        return []
    short, article = data.get("short") or {}, data.get("article") or {}
    labels = list(data.get("workers") or article or short)
    first = _rate(article.get(labels[0])) if labels else None
    lines = [
        f"{kind} pipelines (embedded services, all started together in {_num(data.get('start_s'), '.0f')} s, "
        "measured side by side in interleaved rounds, medians):",
        "",
        "| pipeline | short ms | short p90 ms | n | article wall s | audio s / wall s | "
        + ("× 1 worker | " if scaling else "")
        + "first audio ms | n | chunks by group size | "
        + ("" if scaling else "GPU memory / worker | ")
        + "peak RSS MiB / worker |",
        "|---|---:|---:|---:|---:|---:|"
        + ("---:|" if scaling else "")
        + "---:|---:|---|"
        + ("" if scaling else "---|")
        + "---|",
    ]
    after = data.get("after_article") or {}
    for label in labels:
        s, a, workers = short.get(label) or {}, article.get(label) or {}, after.get(label) or []
        scale = f"{_ratio_of(_rate(a), first)} | " if scaling else ""
        lines.append(
            f"| {label} | {_num(s.get('median_ms'), '.1f')} | {_num(s.get('p90_ms'), '.1f')} | {s.get('n', 0)} "
            f"| {_num(a.get('wall_s'), '.2f')} | {_num(_rate(a), '.0f')} | {scale}{_num(_ms(a.get('first_s')), '.0f')} "
            f"| {a.get('n', 0)} | {_groups(workers)} | "
            + ("" if scaling else f"{_per_worker(workers, 'gpu_memory')} | ")
            + f"{_per_worker(workers, 'peak_rss_mib', '.0f')} |"
        )
    memory = (data.get("gpu_memory_used_before"), data.get("gpu_memory_used_with_pipelines"))
    if any(memory):
        lines += ["", f"GPU memory in use: {memory[0]} before the pipelines started, {memory[1]} with all of them up."]
    lines += ["", *_load(data.get("load") or {}, data.get("after_load") or {}, after, scaling), *_audio(data)]
    return lines


def _load(load: Results, after_load: Results, after_article: Results, scaling: bool) -> list[str]:
    rows = {label: f for label, f in load.items() if isinstance(f, dict)}
    if not load:
        return []
    first = next(iter(rows.values()), {}).get("audio_per_s")
    lines = [
        "Load test (producer threads each sending a mix of 70 % short replies and 30 % article paragraphs, back to back):",
        "",
        "| pipeline | producers | s | audio s / wall s | "
        + ("× 1 worker | " if scaling else "")
        + "requests | p50 ms | p99 ms | first audio p50 ms | errors | chunks by group size in the test |",
        "|---|---:|---:|---:|" + ("---:|" if scaling else "") + "---:|---:|---:|---:|---|---|",
    ]
    for label, f in load.items():
        if not isinstance(f, dict):
            lines.append(f"| {label} | {f} |")
            continue
        scale = f"{_ratio_of(f.get('audio_per_s'), first)} | " if scaling else ""
        errors = ", ".join(f"{code}: {n}" for code, n in (f.get("errors") or {}).items()) or "0"
        groups = _group_delta(after_load.get(label) or [], after_article.get(label) or [])
        lines.append(
            f"| {label} | {f.get('producers')} | {_num(f.get('seconds'), '.1f')} | {_num(f.get('audio_per_s'), '.1f')} "
            f"| {scale}{f.get('requests')} | {_num(f.get('p50_ms'), '.0f')} | {_num(f.get('p99_ms'), '.0f')} "
            f"| {_num(f.get('first_p50_ms'), '.0f')} | {errors} | {groups} |"
        )
    return [*lines, ""]


def _audio(data: Results) -> list[str]:
    audio = data.get("audio") or {}
    if not audio:
        return []
    lines = ["The check text (noise off) through each pipeline:", ""]
    lines += [
        f"- {label}: {p.get('chunks')} chunks, {_num(p.get('speech_s'), '.2f')} s of speech, "
        f"{_num(p.get('rms_dbfs'), '.2f')} dBFS"
        for label, p in (audio.get("pipelines") or {}).items()
    ]
    for workers, pair in (audio.get("batching_on_vs_off") or {}).items():
        lines.append(f"- batching on vs off, {workers}: {_comparison(pair)}")
    if versus := audio.get("gpu_vs_cpu"):
        lines.append(f"- CPU vs the GPU's rendering, 1 worker each: {_comparison(versus)}")
    return [*lines, ""]


def _baseline(data: Results) -> list[str]:
    runs = data.get("article") or {}
    if not runs:
        return []
    lines = [
        "The article without the pipeline, once each:",
        "",
        "| method | wall s | audio s | audio s / wall s | first audio ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, run in runs.items():
        if isinstance(run, dict):
            lines.append(
                f"| {label} | {_num(run.get('wall_s'), '.2f')} | {_num(run.get('audio_s'), '.1f')} "
                f"| {_num(_rate(run), '.0f')} | {_num(_ms(run.get('first_s')), '.0f')} |"
            )
        else:
            lines.append(f"| {label} | {run} | | | |")
    providers = {k: v for k, v in data.items() if k.startswith("providers_")}
    if providers:
        lines += ["", "In-process PiperVoice providers: " + "; ".join(f"{k[10:]}: {v}" for k, v in providers.items())]
    return [*lines, ""]


def _notes(plan: Results) -> list[str]:
    if not plan:
        return []
    return [
        f"Settings: GPU pipelines `voice.gpu_mem_limit_mb = {plan.get('gpu_mem_limit_mb')}` per worker and "
        "onnxruntime threads = cores ÷ workers; CPU pipelines `voice.threads = 1` (one single-threaded worker per "
        "core) with the default solo session; every pipeline of a phase is up at once, only the measured one busy. "
        f"Article {plan.get('article_chars')} characters, check text {plan.get('check_text_chars')}. Load test: "
        f"{plan.get('gpu_producers')} producers on every GPU pipeline for up to {plan.get('gpu_load_s')} s, 2 per "
        f"worker on the CPU for up to {plan.get('cpu_load_s')} s. *Chunks by group size*: chunks spoken in a group "
        "of k chunks (k = 1: alone, sentence by sentence; k > 1: one padded forward pass over the group's "
        "sentences, at most `voice.batch_max_size` rows), from the broker's status. Repeats are cut to the time "
        "each phase had: n is what ran.",
        "",
    ]


# ----- formatting -----------------------------------------------------------------------------


def _num(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def _rate(run: Results | None) -> float | None:
    """Audio seconds per wall second of an article figure."""
    if not isinstance(run, dict) or not run.get("wall_s"):
        return None
    return float(run["audio_s"]) / float(run["wall_s"])


def _ratio(figures: Results, base: Results | float | None) -> str:
    value = figures.get("median") if isinstance(figures, dict) else None
    reference = base.get("median") if isinstance(base, dict) else base
    return _ratio_of(value, reference)


def _ratio_of(value: float | None, base: float | None) -> str:
    return "-" if value is None or not base else f"{value / base:.2f}"


def _comparison(check: Results) -> str:
    """A check of two renderings: its verdict, then what it compared."""
    loudness = " vs ".join(_num(v, ".2f") for v in check.get("rms_dbfs") or [])
    return (
        f"**{_verdict(check)}** (samples {check.get('samples', '?')}, largest difference "
        f"{check.get('max_body_diff', '?')} outside chunk tails, correlation {_num(check.get('correlation'), '.5f')}, "
        f"loudness {loudness} dBFS)"
    )


def _verdict(check: Results) -> str:
    return "?" if "pass" not in check else ("PASS" if check["pass"] else "FAIL")


def _group_totals(workers: list[Results]) -> dict[str, int]:
    """Chunks by the size of the group they were spoken in, summed over a pipeline's workers."""
    total: dict[str, int] = {}
    for worker in workers:
        for size, count in (worker.get("batch_sizes") or {}).items():
            total[size] = total.get(size, 0) + count
    return total


def _groups(workers: list[Results]) -> str:
    return _sizes(_group_totals(workers))


def _group_delta(after: list[Results], before: list[Results]) -> str:
    """Chunks by group size added between two snapshots of the same workers."""
    earlier = _group_totals(before)
    return _sizes(
        {size: n - earlier.get(size, 0) for size, n in _group_totals(after).items() if n > earlier.get(size, 0)}
    )


def _sizes(counts: dict[str, int]) -> str:
    return ", ".join(f"{size}: {n}" for size, n in sorted(counts.items(), key=lambda kv: int(kv[0]))) or "-"


def _per_worker(workers: list[Results], key: str, spec: str | None = None) -> str:
    values = [w.get(key) for w in workers]
    if not any(v is not None for v in values):
        return "-"
    return ", ".join("?" if v is None else (format(v, spec) if spec else str(v)) for v in values)
