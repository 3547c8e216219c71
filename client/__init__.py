"""Producer API: send text to a broker, get ordered audio back (sync and asyncio)."""

from swtts.client.client import (
    AsyncAudioStream,
    AsyncClient,
    AudioChunk,
    AudioStream,
    Client,
    SynthesisResult,
    TTSError,
)

__all__ = ["AsyncAudioStream", "AsyncClient", "AudioChunk", "AudioStream", "Client", "SynthesisResult", "TTSError"]
