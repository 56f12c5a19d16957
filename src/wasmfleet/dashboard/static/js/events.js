// Live events: server-sent events read with fetch (EventSource cannot send the bearer token),
// reconnected with backoff; the shell shows a banner while the connection is lost.

import { api } from "./api.js";

const MAX_BACKOFF_MS = 15000;

// Parse a text/event-stream body, calling onEvent(kind, data) per event.
async function pump(response, onEvent, signal) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (!signal.aborted) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let kind = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue;
        let parsed;
        try {
          parsed = JSON.parse(data.join("\n"));
        } catch {
          parsed = data.join("\n");
        }
        onEvent(kind, parsed);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// Follow one SSE URL until stop(): {stop}. hooks: onEvent, onOpen, onLost(message), onRefused(err).
export function follow(path, { onEvent, onOpen, onLost, onRefused }) {
  const control = new AbortController();
  let attempt = 0;
  let timer = null;
  const run = async () => {
    while (!control.signal.aborted) {
      let response = null;
      try {
        response = await api.raw(path, { signal: control.signal, headers: { Accept: "text/event-stream" } });
      } catch {
        response = null;
      }
      if (control.signal.aborted) return;
      if (response && response.status >= 400 && response.status < 500) {
        // refused (bad token, role, filter): retrying would not help; say why
        const body = await response.json().catch(() => ({}));
        onRefused?.(body?.error?.message || `The event stream answered ${response.status}.`, response.status, body?.error);
        return;
      }
      if (response && response.ok) {
        attempt = 0;
        onOpen?.();
        try {
          await pump(response, onEvent, control.signal);
        } catch {
          /* the connection broke: reconnect below */
        }
        if (control.signal.aborted) return;
      } else if (response) {
        await response.text().catch(() => "");
      }
      attempt += 1;
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(attempt, 5)) * (0.75 + Math.random() / 2);
      onLost?.(`Connection lost — reconnecting in ${Math.round(delay / 1000)} s…`);
      await new Promise((resolve) => {
        timer = setTimeout(resolve, delay);
      });
    }
  };
  run();
  return {
    stop() {
      control.abort();
      clearTimeout(timer);
    },
  };
}

// The shell's event bus: one /api/v1/events stream shared by every page (events.on(kind, fn)).
export class EventBus {
  constructor({ onLost, onOpen, onRefused } = {}) {
    this.listeners = new Map();
    this.hooks = { onLost, onOpen, onRefused };
    this.stream = null;
  }

  start() {
    if (this.stream) return;
    let reconnecting = false;
    this.stream = follow("/api/v1/events", {
      onEvent: (kind, data) => this.emit(kind, data),
      onOpen: () => {
        this.hooks.onOpen?.();
        if (reconnecting) this.emit("reconnected", {});
        reconnecting = false;
      },
      onLost: (msg) => {
        reconnecting = true;
        this.hooks.onLost?.(msg);
      },
      onRefused: (msg, status) => this.hooks.onRefused?.(msg, status),
    });
  }

  stop() {
    this.stream?.stop();
    this.stream = null;
  }

  on(kind, fn) {
    if (!this.listeners.has(kind)) this.listeners.set(kind, new Set());
    this.listeners.get(kind).add(fn);
    return () => this.listeners.get(kind)?.delete(fn);
  }

  emit(kind, data) {
    for (const fn of [...(this.listeners.get(kind) || []), ...(this.listeners.get("*") || [])]) {
      try {
        fn(data, kind);
      } catch (err) {
        console.warn("event listener failed", err);
      }
    }
  }
}
