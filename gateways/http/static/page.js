// The try-it page: streams speech as raw 24 kHz PCM inside server-sent events (one
// speech.audio.delta per chunk, naming the chunk) and schedules each piece on the Web Audio
// clock as it arrives, so a long article starts playing at its first chunk. The received
// PCM becomes the WAV/PCM download; other formats are asked of the server again (its cache
// answers). Each chunk's first delta also carries its words (when each is heard, and where it is
// in the text): the word being heard is highlighted in the text below the controls.
// window.swtts exposes the playback state (tests and the curious read it).
"use strict";

const RATE = 24000;
const $ = (id) => document.getElementById(id);
const state = {
  phase: "idle", // idle | speaking | ended | stopped | error
  chunks: 0,
  total: null,
  receivedSeconds: 0,
  playedSeconds: 0,
  playbackDone: false,
  error: null,
  download: null, // {format, bytes}
  words: [], // [{word, start, end, source}] on the audio's clock (seconds), as received
  word: null, // index of the word being heard
  highlights: [], // [{index, at}]: each word highlighted, and where in the audio it was then
};
window.swtts = state;

let context = null;
let controller = null;
let pieces = []; // [{start, duration, offset}]: AudioContext time, length, and where it starts in the audio
let spokenText = "";
let nextStart = 0;
let pcm = [];

function headers() {
  const key = $("key").value.trim();
  localStorage.setItem("swtts-key", key);
  const result = { "Content-Type": "application/json" };
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

async function apiError(response) {
  try {
    const body = await response.json();
    return body.error.message;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function loadVoices() {
  const response = await fetch("/v1/audio/voices", { headers: headers() });
  if (!response.ok) {
    setStatus(`Voices: ${await apiError(response)}`);
    return;
  }
  const { voices } = await response.json();
  const select = $("voice");
  select.replaceChildren(
    ...voices.map((voice) => new Option(voice.name, voice.id)),
  );
}

function setStatus(text) {
  $("status").textContent = text;
}

function request(format, streamFormat) {
  return {
    model: "swtts",
    input: $("text").value,
    voice: $("voice").value,
    speed: Number($("speed").value) || 1,
    response_format: format,
    stream_format: streamFormat,
  };
}

function schedule(bytes) {
  const samples = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  if (!samples.length) return;
  pcm.push(samples);
  const buffer = context.createBuffer(1, samples.length, RATE);
  const channel = buffer.getChannelData(0);
  for (let i = 0; i < samples.length; i++) channel[i] = samples[i] / 32768;
  const source = context.createBufferSource();
  source.buffer = buffer;
  source.connect(context.destination);
  const start = Math.max(nextStart, context.currentTime + 0.05);
  source.start(start);
  pieces.push({ start, duration: buffer.duration, offset: state.receivedSeconds });
  nextStart = start + buffer.duration;
  state.receivedSeconds += buffer.duration;
}

function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function handleEvent(block) {
  const data = block
    .split("\n")
    .filter((line) => line.startsWith("data:"))
    .map((line) => line.slice(5).trim())
    .join("\n");
  if (!data) return;
  const event = JSON.parse(data);
  if (event.type === "speech.audio.delta") {
    if (event.audio) schedule(base64Bytes(event.audio));
    if (event.index !== undefined) {
      state.chunks = event.index + 1;
      state.total = event.total ?? null;
    }
    if (event.words) state.words.push(...event.words);
  } else if (event.type === "error") {
    throw new Error(event.error.message);
  }
}

function heardAt(now) {
  const piece = pieces.find((p) => now >= p.start && now < p.start + p.duration);
  return piece ? piece.offset + (now - piece.start) : null;
}

function highlight(now) {
  const at = heardAt(now);
  if (at === null) return;
  let index = state.word ?? -1;
  while (index + 1 < state.words.length && state.words[index + 1].start <= at) index++;
  if (index < 0 || index === state.word) return;
  state.word = index;
  state.highlights.push({ index, at });
  const { source } = state.words[index];
  const reader = $("reader");
  if (!source) return;
  const mark = document.createElement("mark");
  mark.textContent = spokenText.slice(source[0], source[1]);
  reader.replaceChildren(spokenText.slice(0, source[0]), mark, spokenText.slice(source[1]));
  mark.scrollIntoView({ block: "nearest" });
}

function tick() {
  if (!context) return;
  const now = context.currentTime;
  highlight(now);
  state.playedSeconds = pieces.reduce(
    (sum, piece) => sum + Math.min(Math.max(now - piece.start, 0), piece.duration),
    0,
  );
  const total = state.total || Math.max(state.chunks, 1);
  $("progress").value = state.chunks / total;
  const chunkText = state.total ? `chunk ${state.chunks} of ${state.total}` : `${state.chunks} chunk(s)`;
  if (state.phase === "speaking" || state.phase === "ended") {
    setStatus(
      `${chunkText} · received ${state.receivedSeconds.toFixed(1)} s · played ${state.playedSeconds.toFixed(1)} s`,
    );
  }
  if (state.phase === "speaking" || (state.phase === "ended" && now < nextStart)) {
    requestAnimationFrame(tick);
  } else if (state.phase === "ended") {
    state.playbackDone = true;
    setStatus(`Done: ${state.receivedSeconds.toFixed(1)} s of audio in ${state.chunks} chunk(s).`);
  }
}

function wavBlob(chunks) {
  const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const view = new DataView(new ArrayBuffer(44));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + length * 2, true);
  text(8, "WAVEfmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, RATE, true);
  view.setUint32(28, RATE * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, length * 2, true);
  return new Blob([view, ...chunks], { type: "audio/wav" });
}

async function offerDownload() {
  const format = $("format").value;
  let blob;
  if (format === "wav") {
    blob = wavBlob(pcm);
  } else if (format === "pcm") {
    blob = new Blob(pcm, { type: "audio/pcm" });
  } else {
    setStatus(`Preparing the ${format} download…`);
    const response = await fetch("/v1/audio/speech", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(request(format, "audio")),
    });
    if (!response.ok) throw new Error(await apiError(response));
    blob = await response.blob();
  }
  const link = $("download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(blob);
  link.download = `speech.${format}`;
  link.textContent = `Download speech.${format} (${(blob.size / 1024).toFixed(0)} KiB)`;
  link.hidden = false;
  state.download = { format, bytes: blob.size };
}

async function speak() {
  stop();
  Object.assign(state, {
    phase: "speaking", chunks: 0, total: null, receivedSeconds: 0, playedSeconds: 0, playbackDone: false, error: null, download: null,
    words: [], word: null, highlights: [],
  });
  spokenText = $("text").value;
  $("reader").textContent = spokenText;
  $("download").hidden = true;
  $("speak").disabled = true;
  $("stop").disabled = false;
  pieces = [];
  pcm = [];
  context = new AudioContext({ sampleRate: RATE });
  nextStart = context.currentTime;
  controller = new AbortController();
  setStatus("Waiting for the first audio…");
  requestAnimationFrame(tick);
  try {
    const response = await fetch("/v1/audio/speech", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify(request("pcm", "sse")),
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(await apiError(response));
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const blocks = buffered.split("\n\n");
      buffered = blocks.pop();
      blocks.forEach(handleEvent);
    }
    state.phase = "ended";
    requestAnimationFrame(tick);
    await offerDownload();
  } catch (error) {
    if (state.phase === "stopped") return;
    state.phase = "error";
    state.error = String(error.message || error);
    setStatus(`Error: ${state.error}`);
  } finally {
    $("speak").disabled = false;
    $("stop").disabled = true;
  }
}

function stop() {
  if (controller && state.phase === "speaking") {
    state.phase = "stopped";
    controller.abort();
    setStatus("Stopped.");
  }
  if (context) context.close();
  context = null;
}

$("key").value = localStorage.getItem("swtts-key") || "";
$("key").addEventListener("change", loadVoices);
$("speak").addEventListener("click", speak);
$("stop").addEventListener("click", stop);
loadVoices();
