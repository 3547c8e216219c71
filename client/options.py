"""What a caller may ask of one request, and how it becomes the request's SUBMIT fields."""

from __future__ import annotations

from dataclasses import dataclass

from swtts.config import Settings
from swtts.pipeline.normalize import MarkupOptions
from swtts.protocol import InvalidRequestError, ProtocolError, Submit, SynthesisParams


@dataclass(frozen=True)
class SynthesisOptions:
    """Per-request choices; every ``None`` means the configured value.

    ``voice`` is a voice name (its file's stem, e.g. ``en_US-joe-medium``) or a language
    (``fr_FR``, ``fr``, ``en-us``); None lets the broker use its default voice. A scale that is
    None and configured as the voice's own is left to the voice. ``normalize`` False reads the
    text as written: markup and all, numbers as espeak reads them.
    """

    voice: str | None = None
    speaker: int | None = None
    length_scale: float | None = None
    noise_scale: float | None = None
    noise_w: float | None = None
    volume: float | None = None
    use_cache: bool = True
    max_chunk_chars: int | None = None
    first_chunk_chars: int | None = None
    deadline_s: float | None = None
    normalize: bool | None = None


def request_template(settings: Settings, options: SynthesisOptions | None) -> Submit:
    """Part 0 of a request without its id and text, checked as the broker would check it."""
    options = options or SynthesisOptions()
    synthesis = settings.synthesis
    params = SynthesisParams(
        length_scale=_scale(options.length_scale, synthesis.length_scale),
        noise_scale=_scale(options.noise_scale, synthesis.noise_scale),
        noise_w=_scale(options.noise_w, synthesis.noise_w),
        speaker=synthesis.speaker if options.speaker is None else options.speaker,
        volume=synthesis.volume if options.volume is None else options.volume,
        loudness_dbfs=synthesis.loudness_dbfs,
    )
    template = Submit(
        request_id="-",
        text="-",
        voice=options.voice,
        params=params,
        use_cache=options.use_cache,
        max_chunk_chars=options.max_chunk_chars or settings.chunker.max_chunk_chars,
        first_chunk_chars=options.first_chunk_chars or settings.chunker.first_chunk_chars,
        deadline_s=options.deadline_s or settings.service.request_deadline_s,
        normalize=settings.normalize.enabled if options.normalize is None else options.normalize,
    )
    try:
        template.validate()
    except ProtocolError as exc:
        raise InvalidRequestError(exc.message, exc.code) from None
    return template


def markup_options(settings: Settings, template: Submit) -> MarkupOptions | None:
    """How the request's markup is removed before it is sent; None when it is read as written."""
    if not template.normalize:
        return None
    normalize = settings.normalize
    return MarkupOptions(read_code_spans=normalize.read_code_spans, read_code_blocks=normalize.read_code_blocks)


def _scale(value: float | None, configured: float | None) -> float | None:
    """The caller's value beats the configured one; ``None`` (``"voice"`` in the config) means the voice's own."""
    return configured if value is None else value
