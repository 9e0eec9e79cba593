// The console page: the serial terminal (xterm.js) and the graphical console (noVNC).
// Each connection asks the dashboard for a one-time console token (a POST with the CSRF
// token; the token comes back in the body, never in a URL) and sends it as the websocket's
// first message; the websocket's URL names the instance, so the token opens nothing else.
import { Terminal } from "./vendor/xterm/xterm.mjs";
import RFB from "./vendor/novnc/core/rfb.js";

const root = document.getElementById("consoles");
const encoder = new TextEncoder();
const sockets = {};

function status(protocol, text, error) {
  const el = document.getElementById(`${protocol}-status`);
  el.textContent = text;
  el.classList.toggle("error", Boolean(error));
  root.dataset[`${protocol}State`] = error ? "error" : text.split(/[ .]/)[0].toLowerCase();
}

async function grant(protocol) {
  const response = await fetch(root.dataset.tokenUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded",
               "X-CSRF-Token": root.dataset.csrf },
    body: new URLSearchParams({ protocol }),
  });
  if (!response.ok) {
    const text = await response.text();
    const doc = new DOMParser().parseFromString(text, "text/html");
    const message = doc.querySelector("p.error");
    throw new Error(message ? message.textContent.trim() : `HTTP ${response.status}`);
  }
  return response.json();
}

async function open(protocol, subprotocols) {
  const { token, socket } = await grant(protocol);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${socket}`, subprotocols);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error("the websocket failed")), { once: true });
  });
  ws.send(token);
  ws.addEventListener("close", (e) => {
    status(protocol, `Disconnected${e.reason ? ": " + e.reason : "."}`, e.code >= 4000);
  });
  sockets[protocol] = ws;
  return ws;
}

let terminal = null;

async function serial() {
  if (!terminal) {
    terminal = new Terminal({ cols: 100, rows: 30, convertEol: false, cursorBlink: true });
    terminal.open(document.getElementById("serial-terminal"));
    terminal.onData((data) => {
      const ws = sockets.serial;
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
    });
  }
  const ws = await open("serial", ["binary"]);
  ws.addEventListener("message", (e) => {
    const bytes = new Uint8Array(e.data);
    terminal.write(bytes);
    // what the terminal shows, for tests and screen readers
    root.dataset.serialBytes = String(Number(root.dataset.serialBytes || 0) + bytes.length);
  });
  status("serial", "Connected.");
  terminal.focus();
}

async function vnc() {
  const ws = await open("vnc", ["binary"]);
  const screen = document.getElementById("vnc-screen");
  screen.replaceChildren();
  const rfb = new RFB(screen, ws, { shared: true });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => status("vnc", "Connected."));
  rfb.addEventListener("disconnect", (e) => {
    if (!e.detail.clean) status("vnc", "Disconnected: the console closed.", true);
  });
  status("vnc", "Connecting…");
}

const connectors = { serial, vnc };
for (const button of root.querySelectorAll("button.console-connect")) {
  button.addEventListener("click", async () => {
    const protocol = button.dataset.protocol;
    const old = sockets[protocol];
    if (old) old.close();
    status(protocol, "Connecting…");
    try {
      await connectors[protocol]();
    } catch (err) {
      status(protocol, `Cannot connect: ${err.message}`, true);
    }
  });
}
// the console log's tail: keep the newest line in view after each refresh
document.body.addEventListener("htmx:afterSwap", (e) => {
  const pre = e.detail.target.querySelector("pre.console");
  if (pre) pre.scrollTop = pre.scrollHeight;
});
for (const pre of document.querySelectorAll("#console-log pre.console")) {
  pre.scrollTop = pre.scrollHeight;
}
// the serial console connects at once; the graphical one on request (it costs more)
root.querySelector('button[data-protocol="serial"]').click();
