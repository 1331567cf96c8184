// The page of `python tools/serve.py`: pick photos, pick a style, compare before and after.
// Talks only to this server (GET /api/styles, POST /api/cartoonize); results are blob: URLs.
"use strict";

const $ = (id) => document.getElementById(id);
const photos = []; // {file, url, width, height}
const results = new Map(); // "photo|style|size|style size" -> {url, seconds}
let current = -1;
let request = null; // the XMLHttpRequest in flight
let retryTimer = null; // a retry after 503, waiting for its Retry-After
const BUSY_RETRIES = 3;
let styles = [];

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function setStatus(message) {
  $("status").textContent = message;
}

function newJobId() {
  // 128 random bits in hex (crypto.randomUUID needs a secure context; http://<LAN address> is not one).
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function loadStyles() {
  try {
    const answer = await fetch("/api/styles");
    if (!answer.ok) throw new Error(`the server answered ${answer.status}`);
    const body = await answer.json();
    styles = body.styles;
    const select = $("style");
    select.textContent = "";
    for (const style of styles) {
      const option = document.createElement("option");
      option.value = style.name;
      option.disabled = !style.served;
      option.textContent = style.name + (style.served ? "" : style.cached ? " (not served here)" : " (not served, not downloaded)");
      select.append(option);
    }
    select.value = body.default;
    describeStyle();
  } catch (error) {
    showError(`Could not load the list of styles: ${error.message}. Is the server still running?`);
  }
}

function describeStyle() {
  const style = styles.find((s) => s.name === $("style").value);
  $("style-info").textContent = style ? style.description : "";
  // Paper, architecture, provenance and the full licence: on demand, in a <details>.
  $("style-details").hidden = !style;
  $("style-details-text").textContent = style ? [style.details, `Licence: ${style.license}.`].filter(Boolean).join(" ") : "";
  showCached();
}

function key() {
  return `${current}|${$("style").value}|${$("size").value}|${$("style-size").value}|${$("portrait").checked}`;
}

// Strength and colour keeping on the shown result, in the page: the sums of cartoongan.look
// (a blend of the sRGB values; the photo plus the change of BT.601 luma), on the photo as the
// browser draws it at the result's size.
function applyLook() {
  const result = current >= 0 ? results.get(key()) : null;
  const strength = Number($("strength").value) / 100;
  const keep = $("keep-colors").checked;
  $("strength-value").textContent = `${$("strength").value}%`;
  if (!result) return;
  const styled = new Image();
  styled.onload = () => {
    if (results.get(key()) !== result) return; // another result is shown by now
    let url = result.url;
    if (strength < 1 || keep) {
      const width = styled.naturalWidth, height = styled.naturalHeight;
      const canvas = document.createElement("canvas");
      canvas.width = width;
      canvas.height = height;
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage($("before"), 0, 0, width, height);
      const photo = context.getImageData(0, 0, width, height).data;
      context.drawImage(styled, 0, 0);
      const image = context.getImageData(0, 0, width, height);
      const out = image.data;
      for (let i = 0; i < out.length; i += 4) {
        let r = out[i], g = out[i + 1], b = out[i + 2];
        if (keep) { // rounded to 0..255 between the two steps, as the library does
          const shift = 0.299 * (r - photo[i]) + 0.587 * (g - photo[i + 1]) + 0.114 * (b - photo[i + 2]);
          [r, g, b] = [photo[i] + shift, photo[i + 1] + shift, photo[i + 2] + shift].map(
            (v) => Math.min(255, Math.max(0, Math.round(v))));
        }
        out[i] = photo[i] + strength * (r - photo[i]); // the array clamps and rounds (ties to even)
        out[i + 1] = photo[i + 1] + strength * (g - photo[i + 1]);
        out[i + 2] = photo[i + 2] + strength * (b - photo[i + 2]);
      }
      context.putImageData(image, 0, 0);
      url = canvas.toDataURL("image/png");
    }
    $("result").src = url;
    $("download").href = url;
  };
  styled.src = result.url;
}

function addPhotos(files) {
  const images = [...files].filter((file) => file.type.startsWith("image/") || file.type === "");
  if (!images.length) {
    showError("Those files are not images. Choose JPEG, PNG, WebP, BMP, TIFF or GIF photos.");
    return;
  }
  for (const file of images) {
    const photo = { file, url: URL.createObjectURL(file), width: 0, height: 0 };
    photos.push(photo);
    const index = photos.length - 1;
    const button = document.createElement("button");
    button.type = "button";
    button.title = file.name;
    button.setAttribute("aria-pressed", "false");
    const thumb = document.createElement("img");
    thumb.src = photo.url;
    thumb.alt = file.name;
    button.append(thumb);
    button.addEventListener("click", () => selectPhoto(index));
    $("thumbs").append(button);
  }
  selectPhoto(photos.length - images.length);
}

function selectPhoto(index) {
  current = index;
  const photo = photos[index];
  [...$("thumbs").children].forEach((b, i) => b.setAttribute("aria-pressed", String(i === index)));
  showError("");
  const before = $("before");
  before.onload = () => {
    photo.width = before.naturalWidth;
    photo.height = before.naturalHeight;
    // Full size unless the photo is large: a CPU takes minutes over tens of megapixels.
    if (!photo.sized) {
      $("size").value = Math.max(photo.width, photo.height) > 2048 ? "1024" : "0";
      photo.sized = true;
    }
    setStatus(`${photo.file.name}: ${photo.width} × ${photo.height}. Pick a style and press Cartoonize.`);
    showCached();
  };
  before.onerror = () => {
    $("compare").hidden = true;
    setStatus(`${photo.file.name}: this browser cannot show it; the server may still read it.`);
  };
  before.src = photo.url;
  $("compare").hidden = false;
  $("go").disabled = request !== null || retryTimer !== null;
  showResult(null);
}

function showResult(result) {
  const img = $("result");
  const shown = Boolean(result);
  $("after").hidden = !shown;
  $("divider").hidden = !shown;
  $("tag-after").hidden = !shown;
  $("slider").hidden = !shown;
  $("download").hidden = !shown;
  $("timing").textContent = shown ? `${result.seconds.toFixed(1)} s on the server` : "";
  if (!shown) {
    img.removeAttribute("src");
    return;
  }
  img.src = result.url;
  const photo = photos[current];
  const stem = photo.file.name.replace(/\.[^.]*$/, "") || "photo";
  $("download").href = result.url;
  $("download").download = `${stem}-${$("style").value}.png`;
  applyLook();
}

function showCached() {
  if (current >= 0) showResult(results.get(key()) || null);
}

function cartoonize(attempt) {
  if (current < 0 || request || (retryTimer && attempt === 0)) return;
  retryTimer = null;
  const photo = photos[current];
  const style = $("style").value;
  const size = $("size").value;
  const styleSize = $("style-size").value;
  const resultKey = key();
  const job = newJobId(); // GET /api/progress?job= says where this request stands
  const params = new URLSearchParams({ style, format: "png", job });
  if (size !== "0") params.set("max_size", size);
  if (styleSize !== "0") params.set("style_size", styleSize); // strength and colours: in the page
  if ($("portrait").checked) params.set("portrait", "true"); // faces by the server's face style
  const xhr = new XMLHttpRequest();
  request = xhr;
  xhr.open("POST", `/api/cartoonize?${params}`);
  xhr.responseType = "blob";
  const started = performance.now();
  const progress = $("progress");
  let timer = null;
  progress.hidden = false;
  progress.value = 0;
  $("go").disabled = true;
  $("cancel").hidden = false;
  showError("");
  xhr.upload.onprogress = (event) => {
    if (event.lengthComputable) progress.value = event.loaded / event.total;
    setStatus(`Uploading ${photo.file.name}…`);
  };
  xhr.upload.onload = () => {
    progress.removeAttribute("value"); // indeterminate until the server reports the passes of a tiled run
    let state = null; // the last {state, pass, passes, tiles_done, tiles} from /api/progress
    let asking = false;
    const tick = () => {
      let where = "";
      if (state && state.state === "waiting") {
        where = ", after the photos ahead of it";
      } else if (state && state.passes > 0) {
        where = `: pass ${state.pass} of ${state.passes}`;
        progress.value = state.tiles_done / state.tiles;
      }
      setStatus(`Cartoonizing in the ${style} style${where}… ${((performance.now() - started) / 1000).toFixed(0)} s`);
      if (asking || request !== xhr) return;
      asking = true;
      fetch(`/api/progress?job=${job}`)
        .then((answer) => (answer.ok ? answer.json() : null))
        .then((body) => { if (body) state = body; })
        .catch(() => {}) // only the status line's detail: the request itself reports failures
        .finally(() => { asking = false; });
    };
    tick();
    timer = setInterval(tick, 500);
  };
  const finish = () => {
    clearInterval(timer);
    request = null;
    progress.hidden = true;
    $("go").disabled = current < 0;
    $("cancel").hidden = true;
  };
  xhr.onload = async () => {
    finish();
    if (xhr.status === 200) {
      const seconds = Number(xhr.getResponseHeader("X-Inference-Seconds") || (performance.now() - started) / 1000);
      const result = { url: URL.createObjectURL(xhr.response), seconds };
      results.set(resultKey, result);
      if (key() === resultKey) showResult(result);
      setStatus(`Done: ${photo.file.name} in the ${style} style. Drag the slider to compare.`);
      return;
    }
    let message = `the server answered ${xhr.status}`;
    try {
      message = JSON.parse(await xhr.response.text()).error || message;
    } catch (_) { /* not JSON: keep the status */ }
    const retry = xhr.getResponseHeader("Retry-After");
    if (xhr.status === 503 && attempt < BUSY_RETRIES) {
      const wait = Math.max(1, Number(retry) || 1);
      setStatus(`The server is busy with other photos; trying again in ${wait} s…`);
      $("go").disabled = true;
      $("cancel").hidden = false;
      retryTimer = setTimeout(() => cartoonize(attempt + 1), wait * 1000);
      return;
    }
    const advice = {
      400: "The server could not read this file as an image.",
      404: "This style is not available on the server.",
      413: "This photo is too large for the server: choose a smaller one.",
      503: `The server is still busy${retry ? `; try again in ${retry} s` : ""}.`,
    }[xhr.status] || "Cartoonizing failed.";
    setStatus("");
    showError(`${advice} Details: ${message}.`);
  };
  xhr.onerror = () => {
    finish();
    setStatus("");
    showError("Could not reach the server. Is it still running?");
  };
  xhr.onabort = () => {
    finish();
    setStatus("Cancelled.");
  };
  xhr.send(photo.file);
}

function setSplit() {
  $("compare").style.setProperty("--split", `${$("slider").value}%`);
}

document.addEventListener("DOMContentLoaded", () => {
  loadStyles();
  $("photo").addEventListener("change", (event) => {
    if (event.target.files.length) addPhotos(event.target.files);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) addPhotos(event.dataTransfer.files);
  });
  $("style").addEventListener("change", describeStyle);
  $("size").addEventListener("change", showCached);
  $("style-size").addEventListener("change", showCached);
  $("portrait").addEventListener("change", showCached);
  $("strength").addEventListener("input", applyLook);
  $("keep-colors").addEventListener("change", applyLook);
  $("go").addEventListener("click", () => cartoonize(0));
  $("cancel").addEventListener("click", () => {
    if (request) {
      request.abort();
    } else if (retryTimer) {
      clearTimeout(retryTimer);
      retryTimer = null;
      $("go").disabled = current < 0;
      $("cancel").hidden = true;
      setStatus("Cancelled.");
    }
  });
  $("slider").addEventListener("input", setSplit);
  setSplit();
});
