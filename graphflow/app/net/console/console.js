// The graphflow serve console: one card per channel of /streams, with its raw and processed
// MJPEG video, its results and, for managed streams, restart, remove and the eymo script.
//
// Requests go through fetch() with the token in the Authorization header, and the video and
// results through one websocket that gets the token in its first message: the token is never
// in a URL. It is asked for on a 401 and kept in sessionStorage. /streams is polled every
// second; when it cannot be reached a banner says so and the page retries with exponential
// backoff, then resumes every stream.
"use strict";

const POLL_MS = 1000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 8000;
const RESULTS_RENDER_MS = 250;   // results are redrawn at most this often
const LATENCY_SAMPLES = 30;      // latency shown: the median of the last frames
const TOKEN_KEYS = {view: "graphflow.token", admin: "graphflow.adminToken"};

const $ = (selector, root = document) => root.querySelector(selector);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------ errors and requests

class OfflineError extends Error {}
class AuthError extends Error {
  constructor(status, admin, message) { super(message); this.status = status; this.admin = admin; }
}
class HttpError extends Error {  // `body`: the answer's JSON object, if it was one
  constructor(status, body) { super(body.error); this.status = status; this.body = body; }
}

/** A value that resolves waiters each time it changes to what they wait for. */
class Flag {
  constructor(value) { this.value = value; this.waiters = []; }
  set(value) {
    this.value = value;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) (w.want === value ? w.resolve : w.keep)(w);
  }
  /** Resolves once the flag is `want` (at once if it is). */
  until(want) {
    if (this.value === want) return Promise.resolve();
    return new Promise((resolve) => {
      const keep = (w) => this.waiters.push(w);
      this.waiters.push({want, resolve, keep});
    });
  }
}

/** Exponential backoff with +-20% jitter. */
class Backoff {
  constructor() { this.reset(); }
  reset() { this.ms = BACKOFF_MIN_MS; }
  next() {
    const wait = this.ms * (0.8 + 0.4 * Math.random());
    this.ms = Math.min(this.ms * 2, BACKOFF_MAX_MS);
    return wait;
  }
}

const online = new Flag(null);      // null before the first answer, then true / false
const authorized = new Flag(true);  // false while the token prompt is open

function token(admin) {
  const view = sessionStorage.getItem(TOKEN_KEYS.view);
  return admin ? sessionStorage.getItem(TOKEN_KEYS.admin) || view : view;
}

function requestInit({method = "GET", body, admin = false, signal} = {}) {
  const headers = {};
  const value = token(admin);
  if (value) headers.Authorization = `Bearer ${value}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return {method, headers, signal, cache: "no-store",
          body: body === undefined ? undefined : JSON.stringify(body)};
}

/** fetch() that turns network failures, 401/403 and other errors into the classes above. */
async function request(path, options = {}) {
  let response;
  try {
    response = await fetch(path, requestInit(options));
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new OfflineError(`cannot reach the server (${error.message})`);
  }
  if (response.status === 401 || response.status === 403) {
    const body = await errorBody(response);
    throw new AuthError(response.status, Boolean(options.admin), body.error);
  }
  if (!response.ok) throw new HttpError(response.status, await errorBody(response));
  return response;
}

/** An error answer as an object with `error` (the server's JSON, or its text). */
async function errorBody(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body;
  } catch {
    // not JSON: the text is the message
  }
  return {error: text.trim() || `HTTP ${response.status}`};
}

async function api(path, options) {
  return (await request(path, options)).json();
}

/** An admin action: on 401/403 asks for a token and tries once more. */
async function adminApi(path, options) {
  try {
    return await api(path, {...options, admin: true});
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    await askToken(true, error.message);
    return api(path, {...options, admin: true});
  }
}

// ------------------------------------------------------------------ token prompt

let tokenPrompt = null;  // the pending prompt's promise

/**
 * Opens the token dialog (for the admin token if `admin`: the token of adding, restarting and
 * removing streams, when the server has one of its own); resolves once it is closed. `refusal`
 * is what the server said about the token sent, if one was sent; `title` replaces the one
 * that says why it is asked for.
 */
function askToken(admin, refusal = "", title = "") {
  if (tokenPrompt) return tokenPrompt;
  const dialog = $("#token-dialog");
  $("#token-title").textContent = title || (admin ? "This action needs the admin token"
                                                  : "This server needs a token");
  $("#token-reason").textContent = token(admin) && refusal
    ? `The server refused the token: ${refusal}` : "";
  $("#token-input").value = "";
  authorized.set(false);
  tokenPrompt = new Promise((resolve) => {
    dialog.onclose = () => {
      const value = $("#token-input").value;
      if (value) sessionStorage.setItem(admin ? TOKEN_KEYS.admin : TOKEN_KEYS.view, value);
      tokenPrompt = null;
      authorized.set(true);
      resolve();
    };
  });
  dialog.showModal();
  return tokenPrompt;
}

// ------------------------------------------------------------------ connection and polling

const backoff = new Backoff();
let offlineSince = null;
let retryAt = 0;
let wake = null;  // resolves the poller's current wait early ("Retry now")

function setOnline(value, reason = "") {
  if (value) {
    offlineSince = null;
    $("#banner").hidden = true;
  } else {
    offlineSince = offlineSince || new Date();
    $("#banner").hidden = false;
    $("#banner").dataset.reason = reason;
  }
  document.body.classList.toggle("offline", !value);
  if (online.value !== value) online.set(value);
  updateBanner();
}

function updateBanner() {
  if (offlineSince === null) return;
  const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
  const since = offlineSince.toLocaleTimeString();
  $("#banner-text").textContent = `Disconnected from the server since ${since} ` +
    `(${$("#banner").dataset.reason}). ` +
    (seconds > 0 ? `Retrying in ${seconds} s.` : "Retrying now…");
}

async function poll() {
  for (;;) {
    let delay = POLL_MS;
    try {
      const asked = performance.now();
      render(await api("streams"), asked);
      backoff.reset();
      setOnline(true);
    } catch (error) {
      if (error instanceof AuthError) {
        setOnline(true);
        await askToken(false, error.message);
        continue;
      }
      delay = backoff.next();
      retryAt = Date.now() + delay;
      setOnline(false, error instanceof OfflineError ? "no answer"
                                                     : `HTTP ${error.status}: ${error.message}`);
    }
    await Promise.race([sleep(delay), new Promise((resolve) => { wake = resolve; })]);
  }
}

// ------------------------------------------------------------------ cards

const cards = new Map();  // channel name -> Card
const dismissed = new Map();  // channel name -> when its card was dismissed (performance.now())

/** Shows the channels of a /streams answer to a request sent at `asked`. */
function render(list, asked) {
  const names = new Set(list.map((entry) => entry.name));
  for (const entry of list) {
    let card = cards.get(entry.name);
    if (!card) {
      // An answer sent before the card was dismissed (its stream removed) is out of date.
      if (dismissed.get(entry.name) > asked) continue;
      card = new Card(entry.name);
      cards.set(entry.name, card);
    }
    card.update(entry);
  }
  for (const [name, card] of cards) if (!names.has(name)) card.gone();
  $("#empty").hidden = cards.size > 0;
  const live = list.filter((entry) => entry.connected || entry.managed).length;
  $("#summary").textContent = `${list.length} stream${list.length === 1 ? "" : "s"}, ` +
    `${live} with frames coming in`;
}

const fixed = (value, digits = 1) =>
  (typeof value === "number" ? value.toFixed(digits) : "–");

class Card {
  constructor(name) {
    this.name = name;
    this.root = $("#card-template").content.firstElementChild.cloneNode(true);
    this.root.dataset.name = name;
    $(".name", this.root).textContent = name;
    this.managed = null;
    this.raw = new VideoView($("canvas.raw", this.root), $(".raw-meter", this.root));
    this.processed = new VideoView($("canvas.processed", this.root),
                                   $(".processed-meter", this.root));
    this.results = new ResultsView(this.root);
    this.script = null;
    this.rewatch = new Backoff();  // after the server ended a stream this card still shows
    $(".process", this.root).onchange = () => this.watch();
    $(".restart", this.root).onclick = () => this.restart();
    $(".remove", this.root).onclick = (event) => this.remove(event.target);
    $(".dismiss", this.root).onclick = () => this.dismiss();
    $("#cards").append(this.root);
    this.watch();
  }

  /** Tells the feed what this card shows: raw, and processed and results unless unticked. */
  watch() {
    const processing = $(".process", this.root).checked;
    if (!processing) this.processed.idle("not watched");
    feed.watch(this, processing ? ["raw", "processed", "results"] : ["raw"]);
  }

  frame(kind, jpeg, stamp) {
    (kind === "raw" ? this.raw : this.processed).show(jpeg, stamp);
    this.rewatch.reset();
  }

  /**
   * The feed ended what this card watched: its connection closed (`fromServer` false: the
   * feed watches again once it reconnects), or the server ended the stream (a graph failed,
   * a managed stream restarts): watched again after a backoff while the card is shown.
   */
  ended(kind, why, fromServer = false) {
    if (kind !== "results") (kind === "raw" ? this.raw : this.processed).idle(why);
    if (!fromServer || this.rewatchTimer) return;
    this.rewatchTimer = setTimeout(() => {
      this.rewatchTimer = null;
      if (cards.get(this.name) === this && !this.root.classList.contains("gone")) this.watch();
    }, this.rewatch.next());
  }

  update(entry) {
    if (this.root.classList.contains("gone")) {
      this.root.classList.remove("gone");
      $(".dismiss", this.root).hidden = true;
      this.watch();
    }
    const managed = entry.managed;
    const [state, tone] = managed ? [managed.state, {running: "ok", failed: "bad",
                                                     finished: "idle"}[managed.state] || "warn"]
      : entry.connected ? ["live", "ok"] : ["sender away", "warn"];
    const badge = $(".state", this.root);
    badge.textContent = state;
    badge.dataset.tone = tone;
    $(".origin", this.root).textContent = managed
      ? `managed · ${managed.source} · ${shortGraph(managed.graph)}`
      : `pushed${entry.width ? ` · ${entry.width}×${entry.height}` : ""}`;
    $(".fps-in", this.root).textContent = fixed(entry.fps);
    $(".fps-out", this.root).textContent = fixed(entry.processed_fps);
    $(".fps-sender", this.root).textContent = fixed(entry.sender_fps);
    $(".latency", this.root).textContent =
      `${this.raw.latency() ?? "–"} / ${this.processed.latency() ?? "–"} ms`;
    $(".latency", this.root).title = "capture to this page, raw / processed (median)";
    const v = entry.viewers;
    $(".viewers", this.root).textContent = `${v.raw} / ${v.processed} / ${v.results}`;
    $(".viewers", this.root).title = "raw / processed / results viewers, this page included";
    $(".restarts", this.root).textContent = managed ? String(managed.restarts) : "–";
    const problem = $(".problem", this.root);
    problem.hidden = !(managed && managed.last_error);
    problem.textContent = managed && managed.last_error ? `last error: ${managed.last_error}` : "";
    for (const button of [".restart", ".remove"]) $(button, this.root).hidden = !managed;
    if (managed && !this.managed) this.script = new ScriptEditor(this);
    if (!managed) {
      $(".script-toggle", this.root).hidden = true;
      $(".script", this.root).hidden = true;
    }
    this.managed = managed;
  }

  gone() {
    if (this.root.classList.contains("gone")) return;
    this.root.classList.add("gone");
    const badge = $(".state", this.root);
    badge.textContent = "gone";
    badge.dataset.tone = "idle";
    $(".dismiss", this.root).hidden = false;
    for (const button of [".restart", ".remove", ".script-toggle"]) {
      $(button, this.root).hidden = true;
    }
    for (const cell of this.root.querySelectorAll(".stats dd")) cell.textContent = "–";
    feed.watch(this, []);
    this.raw.idle("gone");
    this.processed.idle("gone");
  }

  dismiss() {
    this.gone();
    dismissed.set(this.name, performance.now());
    feed.forget(this.name);
    this.root.remove();
    cards.delete(this.name);
    $("#empty").hidden = cards.size > 0;
  }

  async restart() {
    await this.act(() => adminApi(`streams/${encodeURIComponent(this.name)}/restart`,
                                  {method: "POST"}));
  }

  async remove(button) {
    if (button.dataset.confirm !== "yes") {  // a second click within 3 s removes
      button.dataset.confirm = "yes";
      button.textContent = "Really remove?";
      setTimeout(() => { button.dataset.confirm = ""; button.textContent = "Remove"; }, 3000);
      return;
    }
    await this.act(async () => {
      await adminApi(`streams/${encodeURIComponent(this.name)}`, {method: "DELETE"});
      this.dismiss();
    });
  }

  async act(action) {
    const problem = $(".problem", this.root);
    try {
      await action();
    } catch (error) {
      problem.hidden = false;
      problem.textContent = error.message;
    }
    wake?.();
  }
}

function shortGraph(path) {
  return path.split("/").pop().replace(/\.pbtxt$/, "");
}

// ------------------------------------------------------------------ the feed (one websocket)

/**
 * Every card's video and results over one websocket (console/feed): a browser opens at most six
 * HTTP connections to a server, fewer than two cards' MJPEG and event streams, and a websocket
 * can carry the token in its first message instead of its URL.
 *
 * To the server: {"token": T} first, then {"watch": NAME, "kinds": ["raw", ...]} (none: stop).
 * From it: {"ok": true}; frames as binary messages (kind byte: 0 raw, 1 processed; int64
 * capture time in microseconds; name length byte; name; JPEG); result events as text; and
 * {"ended": NAME, "kind": K, "why": W} or {"error": E, "channel": NAME}. A refused token
 * closes the socket with code 4401.
 */
class Feed {
  constructor() {
    this.socket = null;
    this.ready = false;
    this.watches = new Map();  // name -> [card, kinds]
    this.backoff = new Backoff();
  }

  watch(card, kinds) {
    this.watches.set(card.name, [card, kinds]);
    this.send(card.name);
  }

  forget(name) {
    this.watches.delete(name);
  }

  send(name) {
    const [, kinds] = this.watches.get(name);
    if (this.ready) this.socket.send(JSON.stringify({watch: name, kinds}));
  }

  async run() {
    for (;;) {
      await online.until(true);
      await authorized.until(true);
      const closed = await this.connect();
      this.ready = false;
      for (const [card, kinds] of this.watches.values()) {
        for (const kind of kinds) card.ended(kind, "reconnecting");
      }
      if (closed.code === 4401) {
        await askToken(false, closed.reason);
        continue;
      }
      wake?.();  // the server may be gone: poll now
      await Promise.race([sleep(this.backoff.next()),
                          online.until(false).then(() => online.until(true))]);
    }
  }

  /** Opens the socket; resolves with its close event. */
  connect() {
    return new Promise((resolve) => {
      const url = new URL("console/feed", location.href);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      const socket = new WebSocket(url);
      socket.binaryType = "arraybuffer";
      socket.onopen = () => socket.send(JSON.stringify({token: token(false)}));
      socket.onmessage = (event) => this.receive(event.data);
      socket.onclose = resolve;
      this.socket = socket;
      // A connection lost without a word (the network went away) is closed once the poll
      // finds the server unreachable.
      online.until(false).then(() => socket.close());
    });
  }

  receive(data) {
    if (typeof data !== "string") {
      const view = new DataView(data);
      const length = view.getUint8(9);
      const name = new TextDecoder().decode(new Uint8Array(data, 10, length));
      const card = this.watches.get(name)?.[0];
      card?.frame(view.getUint8(0) === 0 ? "raw" : "processed",
                  new Uint8Array(data, 10 + length), Number(view.getBigInt64(1)));
      return;
    }
    const message = JSON.parse(data);
    if (message.ok) {
      this.ready = true;
      this.backoff.reset();
      for (const name of this.watches.keys()) this.send(name);
    } else if ("stream" in message) {
      this.watches.get(message.channel)?.[0].results.add(message);
    } else if ("ended" in message) {
      this.watches.get(message.ended)?.[0].ended(message.kind, message.why, true);
    } else if ("error" in message) {
      this.watches.get(message.channel)?.[0].ended("raw", message.error, true);
    }
  }
}

const feed = new Feed();

// ------------------------------------------------------------------ video and results

/** Draws a stream's newest JPEG frames on a canvas; measures frame rate and latency. */
class VideoView {
  constructor(canvas, meter) {
    this.canvas = canvas;
    this.meter = meter;
    this.latencies = [];
    this.frameTimes = [];
    this.drawing = false;
    this.pending = null;
  }

  idle(why) {
    this.latencies = [];
    this.frameTimes = [];
    this.pending = null;
    this.meter.textContent = why;
    this.canvas.classList.add("idle");
  }

  show(jpeg, stamp) {
    this.canvas.classList.remove("idle");
    const now = Date.now();
    this.latencies.push(now - stamp / 1000);
    this.frameTimes.push(now);
    if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
    while (this.frameTimes.length && this.frameTimes[0] < now - 2000) this.frameTimes.shift();
    this.pending = jpeg;
    if (!this.drawing) this.draw();
  }

  async draw() {  // decodes only the newest frame: a slow page skips frames, never lags
    this.drawing = true;
    while (this.pending) {
      const jpeg = this.pending;
      this.pending = null;
      try {
        const bitmap = await createImageBitmap(new Blob([jpeg], {type: "image/jpeg"}));
        if (this.canvas.width !== bitmap.width || this.canvas.height !== bitmap.height) {
          this.canvas.width = bitmap.width;
          this.canvas.height = bitmap.height;
          this.canvas.style.aspectRatio = `${bitmap.width} / ${bitmap.height}`;
        }
        this.canvas.getContext("2d").drawImage(bitmap, 0, 0);
        bitmap.close();
      } catch (error) {
        this.meter.textContent = `undecodable frame (${error.message})`;
        continue;
      }
      if (this.canvas.classList.contains("idle")) break;  // ended while this frame decoded
      const times = this.frameTimes;
      const fps = times.length > 1 ? (times.length - 1) * 1000 / (times.at(-1) - times[0]) : 0;
      this.meter.textContent = `${fps.toFixed(1)} fps here, ${this.latency()} ms after capture`;
    }
    this.drawing = false;
  }

  /** The median capture-to-page latency of the last frames in ms, or null. */
  latency() {
    if (!this.latencies.length) return null;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return Math.round(sorted[sorted.length >> 1]);
  }
}

/** Shows the latest value of each result stream of a card, redrawn at most every 250 ms. */
class ResultsView {
  constructor(root) {
    this.list = $(".result-list", root);
    this.json = $(".json", root);
    this.age = $(".results-age", root);
    this.latest = new Map();  // stream -> event
    this.timer = null;
    this.json.ontoggle = () => this.show();
  }

  add(event) {
    this.latest.set(event.stream, {...event, received: Date.now()});
    this.timer ??= setTimeout(() => { this.timer = null; this.show(); }, RESULTS_RENDER_MS);
  }

  show() {
    if (!this.latest.size) return;
    const items = [];
    const byName = [...this.latest].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [stream, event] of byName) {
      const item = document.createElement("li");
      const title = document.createElement("b");
      title.textContent = stream;
      const [summary, details] = describeValue(event.value);
      item.append(title, ` ${summary}`);
      if (details) item.append(details);
      items.push(item);
    }
    this.list.replaceChildren(...items);
    const newest = byName.reduce((a, [, event]) => (event.received > a.received ? event : a),
                                 byName[0][1]);
    this.age.textContent =
      `(${Math.max(0, Math.round(newest.received - newest.timestamp / 1000))} ms after capture)`;
    if (this.json.open) {
      const events = Object.fromEntries(byName.map(([stream, event]) =>
        [stream, {timestamp: event.timestamp, value: event.value}]));
      $("pre", this.json).textContent = JSON.stringify(events, null, 2);
    }
  }
}

/** [a readable summary of one result value, an element with its details or null]. */
function describeValue(value) {
  if (Array.isArray(value) && value.length && value.every(isDetection)) {
    const list = document.createElement("ol");
    list.className = "detections";
    for (const d of value) {
      const item = document.createElement("li");
      const keypoints = Array.isArray(d.keypoints) ? d.keypoints.length : 0;
      item.textContent = `score ${fixed(d.score, 2)} · box x ${fixed(d.xmin, 2)} ` +
        `y ${fixed(d.ymin, 2)} w ${fixed(d.width, 2)} h ${fixed(d.height, 2)}` +
        (keypoints ? ` · ${keypoints} keypoints` : "");
      list.append(item);
    }
    return [`${value.length} detection${value.length === 1 ? "" : "s"}`, list];
  }
  if (Array.isArray(value) && value.length === 0) return ["none", null];
  const shape = arrayShape(value);
  if (shape && shape.length === 3) {
    return [`${shape[0]} face${shape[0] === 1 ? "" : "s"}, ${shape[1]} landmarks each ` +
            `(${shape[2]} values per landmark)`, null];
  }
  if (shape && shape.length === 2) return [`${shape[0]} landmarks (${shape[1]} values each)`, null];
  if (shape && shape.length === 1) return [`${shape[0]} numbers`, null];
  const text = JSON.stringify(value);
  return [text.length > 120 ? `${text.slice(0, 117)}…` : text, null];
}

function isDetection(value) {
  return value && typeof value === "object" && "xmin" in value && "width" in value;
}

/** [n, m, ...] for a regular nested array of numbers, else null. */
function arrayShape(value) {
  if (typeof value === "number") return [];
  if (!Array.isArray(value) || !value.length) return null;
  const inner = arrayShape(value[0]);
  if (inner === null) return null;
  for (const element of value) {
    const shape = arrayShape(element);
    if (shape === null || shape.length !== inner.length) return null;
  }
  return [value.length, ...inner];
}

// ------------------------------------------------------------------ eymo script editor

/** Edits a managed stream's eymo script (shown when its graph draws one). */
class ScriptEditor {
  constructor(card) {
    this.card = card;
    this.panel = $(".script", card.root);
    this.text = $("textarea", this.panel);
    this.gutter = $(".gutter", this.panel);
    this.status = $(".script-status", this.panel);
    this.errors = $(".script-errors", this.panel);
    this.errorLine = 0;
    this.toggle = $(".script-toggle", card.root);
    this.toggle.onclick = () => this.setOpen(this.panel.hidden);
    this.text.oninput = () => { this.errorLine = 0; this.numberLines(); };
    this.text.onscroll = () => { this.gutter.scrollTop = this.text.scrollTop; };
    $(".apply", this.panel).onclick = () => this.apply();
    this.load();
  }

  path() { return `streams/${encodeURIComponent(this.card.name)}/script`; }

  async load() {
    let script;
    try {
      script = await api(this.path());
    } catch (error) {
      return;  // no eymo script in this graph (409), or not reachable now: no editor
    }
    this.text.value = script.text;
    this.status.textContent = script.live ? "edits apply live"
      : `from ${script.path}; the first edit restarts the graph with an edited copy`;
    this.toggle.hidden = this.card.root.classList.contains("gone");
    this.numberLines();
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute("aria-pressed", String(open));
  }

  numberLines() {
    const count = this.text.value.split("\n").length;
    const lines = [];
    for (let i = 1; i <= count; i++) {
      lines.push(i === this.errorLine ? `<mark>${i}</mark>` : String(i));
    }
    this.gutter.innerHTML = lines.join("\n");
  }

  async apply() {
    this.errors.replaceChildren();
    this.status.textContent = "applying…";
    try {
      const result = await adminApi(this.path(), {method: "PUT", body: {text: this.text.value}});
      this.errorLine = 0;
      this.status.textContent = result.applied === "live" ? "applied live"
        : "applied: the graph restarted with the edited copy; later edits apply live";
    } catch (error) {
      if (error instanceof HttpError && error.status === 422) {
        this.showError(error.body);
      } else {
        this.status.textContent = `not applied: ${error.message}`;
      }
    }
    this.numberLines();
  }

  showError(error) {
    this.status.textContent = "not applied: the script has a mistake";
    const item = document.createElement("li");
    const where = document.createElement("button");
    where.type = "button";
    where.className = "where";
    where.textContent = `${error.line}:${error.column}`;
    where.onclick = () => this.select(error.line, error.column);
    item.append(where, ` ${error.message}`);
    this.errors.append(item);
    this.errorLine = error.line;
    this.select(error.line, error.column);
  }

  select(line, column) {
    const lines = this.text.value.split("\n");
    let offset = column - 1;
    for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    this.text.focus();
    this.text.setSelectionRange(offset, offset + 1);
  }
}

// ------------------------------------------------------------------ add dialog and start

async function addStream(event) {
  event.preventDefault();
  const form = event.target;
  const data = Object.fromEntries(new FormData(form));
  const error = $("#add-error");
  error.textContent = "";
  let sidePackets = {};
  if (data.side_packets.trim()) {
    try {
      sidePackets = JSON.parse(data.side_packets);
    } catch (problem) {
      error.textContent = `side packets: not JSON (${problem.message})`;
      return;
    }
  }
  try {
    await adminApi("streams", {method: "POST", body: {
      name: data.name, graph: data.graph, source: data.source || "push",
      restart: data.restart, side_packets: sidePackets}});
  } catch (problem) {
    error.textContent = problem.message;
    return;
  }
  $("#add-dialog").close();
  form.reset();
  wake?.();
}

async function openAddDialog() {
  $("#add-error").textContent = "";
  $("#add-dialog").showModal();
  try {
    const graphs = await api("console/graphs");
    $("#graph-names").replaceChildren(...graphs.map((name) => new Option(name)));
  } catch {
    // the form works without suggestions
  }
}

function start() {
  $("#token-forget").onclick = () => {
    sessionStorage.removeItem(TOKEN_KEYS.view);
    sessionStorage.removeItem(TOKEN_KEYS.admin);
    $("#token-input").value = "";
    $("#token-dialog").close();
  };
  $("#token-open").onclick = () => askToken(false, "", "Token for this server");
  $("#add-open").onclick = openAddDialog;
  $("#add-cancel").onclick = () => $("#add-dialog").close();
  $("#add-form").onsubmit = addStream;
  $("#banner-retry").onclick = () => wake?.();
  setInterval(updateBanner, 1000);
  poll();
  feed.run();
}

start();
