// Live events over the WebSocket at /ws; the key goes as a subprotocol (a browser can send no
// header, and a URL would keep it in history and logs). Reconnects with a growing pause.

import { session } from "./api.js";

const listeners = new Set();
let socket = null;
let retryMs = 1000;

export function onEvent(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function connect() {
  if (socket || !session.key) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  socket = new WebSocket(url, ["scan-daemon.v1", `bearer.${session.key}`]);
  socket.addEventListener("open", () => {
    retryMs = 1000;
    document.body.dataset.live = "connected";
  });
  socket.addEventListener("message", (e) => {
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    for (const listener of listeners) listener(event);
  });
  socket.addEventListener("close", () => {
    socket = null;
    document.body.dataset.live = "disconnected";
    if (session.key) setTimeout(connect, (retryMs = Math.min(retryMs * 2, 30_000)));
  });
}

export function disconnect() {
  const s = socket;
  socket = null;
  s?.close();
}
