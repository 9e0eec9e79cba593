// Live fragments (htmx polling): each poll sends back the ETag of the last answer it got, so
// an unchanged fragment comes back as an empty 304 and nothing is re-drawn (base.html tells
// htmx not to swap on 304). Counters on <html> let tests see the polls.
(function () {
  "use strict";
  const tags = new Map();
  const root = document.documentElement;
  document.addEventListener("htmx:configRequest", (e) => {
    const tag = tags.get(e.detail.path);
    if (tag) e.detail.headers["If-None-Match"] = tag;
  });
  document.addEventListener("htmx:afterRequest", (e) => {
    const xhr = e.detail.xhr;
    if (!xhr) return;
    const tag = xhr.getResponseHeader("ETag");
    if (tag) tags.set(e.detail.requestConfig.path, tag);
    root.dataset.polls = String(Number(root.dataset.polls || 0) + 1);
    if (xhr.status === 304) {
      root.dataset.unchanged = String(Number(root.dataset.unchanged || 0) + 1);
    }
  });
})();
