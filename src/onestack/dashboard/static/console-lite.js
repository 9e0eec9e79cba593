// noVNC's page for the console URLs of Nova's API (/console/novnc/vnc_lite.html?path=...):
// ``path`` is the websocket to open on this host, its one-time token in it.
import RFB from "./vendor/novnc/core/rfb.js";

const params = new URLSearchParams(location.search);
const path = params.get("path") || "";
const state = document.getElementById("console-status");
// the token is spent by this connection: keep it out of the history and the address bar
history.replaceState(null, "", location.pathname);
if (!path.startsWith("console/")) {
  state.textContent = "This console URL names no console.";
} else {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const rfb = new RFB(document.getElementById("console-screen"),
                      `${scheme}//${location.host}/${path}`, { shared: true, wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => { state.textContent = "Connected."; });
  rfb.addEventListener("disconnect", (e) => {
    state.textContent = e.detail.clean ? "Disconnected." : "Disconnected: the console was refused or closed.";
  });
}
