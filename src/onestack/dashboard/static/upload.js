// Streamed uploads (images, objects): the file is the raw body of one XHR, so the browser
// reports upload progress and the server streams it on without a multipart parser. The
// CSRF token and the names travel in headers (URL-encoded).
(function () {
  "use strict";
  function upload(form, ev) {
    ev.preventDefault();
    const input = form.querySelector("input[type=file]");
    const file = input.files[0];
    if (!file) return;
    const bar = form.querySelector("progress");
    const note = form.querySelector(".upload-note");
    const button = form.querySelector("button[type=submit]");
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.upload);
    xhr.setRequestHeader("X-CSRF-Token", form.querySelector("input[name=csrf_token]").value);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("X-Upload-Filename", encodeURIComponent(file.name));
    for (const field of form.querySelectorAll("[data-header]")) {
      xhr.setRequestHeader(field.dataset.header, encodeURIComponent(field.value));
    }
    let events = 0;
    bar.value = 0;
    bar.hidden = false;
    button.disabled = true;
    note.textContent = "Uploading " + file.name + "...";
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      events += 1;
      bar.value = Math.floor((100 * e.loaded) / e.total);
      bar.dataset.events = String(events);
      note.textContent = "Uploading " + file.name + ": " + bar.value + "%";
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      let message = xhr.statusText;
      try { message = JSON.parse(xhr.responseText).message || message; } catch (_) { /* text */ }
      if (xhr.status < 300) {
        bar.value = 100;
        note.textContent = "Uploaded " + file.name + ".";
        note.className = "upload-note done";
        form.reset();
        document.body.dispatchEvent(new Event("uploaded"));
        if (form.dataset.reload !== undefined) window.location.reload();
      } else {
        note.textContent = "Upload refused (" + xhr.status + "): " + message;
        note.className = "upload-note error";
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      note.textContent = "The upload was interrupted.";
      note.className = "upload-note error";
    });
    xhr.send(file);
  }
  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form[data-upload]")) {
      form.addEventListener("submit", (ev) => upload(form, ev));
    }
  });
})();
