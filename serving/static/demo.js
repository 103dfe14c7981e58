// CaCL-Net demo page: upload a photo, draw the heat map over it, threshold the probability map here.
// Everything comes from this server; no external script, font or request.
"use strict";

const $ = (id) => document.getElementById(id);
// inferno-like colour ramp, probability 0 -> 1 (dark = authentic, yellow = tampered)
const STOPS = [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]];
const LUT = buildLut(256);
let info = null;
let current = null;  // {name, width, height, prob: Uint16Array, photo, heat, heatAlpha}

function buildLut(size) {
  const lut = new Uint8Array(size * 3);
  for (let i = 0; i < size; i++) {
    const x = (i / (size - 1)) * (STOPS.length - 1);
    const k = Math.min(Math.floor(x), STOPS.length - 2);
    const f = x - k;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(STOPS[k][c] * (1 - f) + STOPS[k + 1][c] * f);
  }
  return lut;
}

function say(text, state) {
  $("message").textContent = text;
  document.body.dataset.state = state;
}

async function loadInfo() {
  info = await (await fetch("/api/info")).json();
  $("checkpoint").textContent = info.checkpoint;
  $("backbone").textContent = info.backbone;
  $("pretrained").textContent = info.pretrained;
  $("device").textContent = info.device;
  $("tta").textContent = info.tta;
  $("max-upload").textContent = info.max_upload_mb;
  $("scorer").textContent = info.scorer;
}

function decodeProb(base64) {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Uint16Array(bytes.buffer);  // little-endian uint16, as the server writes it
}

function canvasOf(width, height, element) {
  const canvas = element || document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function heatCanvases(prob, width, height) {
  const heat = canvasOf(width, height);
  const heatAlpha = canvasOf(width, height);
  const opaque = new ImageData(width, height);
  const translucent = new ImageData(width, height);
  for (let i = 0; i < prob.length; i++) {
    const j = (prob[i] >> 8) * 3;
    for (let c = 0; c < 3; c++) opaque.data[i * 4 + c] = translucent.data[i * 4 + c] = LUT[j + c];
    opaque.data[i * 4 + 3] = 255;
    translucent.data[i * 4 + 3] = prob[i] >> 8;  // more probable = more visible over the photo
  }
  heat.getContext("2d").putImageData(opaque, 0, 0);
  heatAlpha.getContext("2d").putImageData(translucent, 0, 0);
  return {heat, heatAlpha};
}

function drawOverlay() {
  const canvas = $("overlay");
  const context = canvas.getContext("2d");
  context.globalAlpha = 1;
  context.drawImage(current.photo, 0, 0);
  context.globalAlpha = Number($("opacity").value);
  context.drawImage(current.heatAlpha, 0, 0);
  context.globalAlpha = 1;
}

function drawMask() {
  const threshold = Number($("threshold").value);
  const cutoff = threshold * 65535;
  const image = new ImageData(current.width, current.height);
  let count = 0;
  for (let i = 0; i < current.prob.length; i++) {
    const on = current.prob[i] >= cutoff;
    count += on;
    const value = on ? 255 : 0;
    image.data[i * 4] = image.data[i * 4 + 1] = image.data[i * 4 + 2] = value;
    image.data[i * 4 + 3] = 255;
  }
  $("mask").getContext("2d").putImageData(image, 0, 0);
  $("mask").dataset.count = count;
  $("threshold-value").textContent = threshold.toFixed(2);
  $("area").textContent = `${(100 * count / current.prob.length).toFixed(1)} %`;
}

async function show(result) {
  const photo = new Image();
  photo.src = result.photo;
  await photo.decode();
  const {width, height} = result;
  current = {name: result.name, width, height, prob: decodeProb(result.prob16), photo};
  Object.assign(current, heatCanvases(current.prob, width, height));
  for (const id of ["overlay", "mask", "photo", "heat"]) canvasOf(width, height, $(id));
  $("photo").getContext("2d").drawImage(photo, 0, 0);
  $("heat").getContext("2d").drawImage(current.heat, 0, 0);
  $("threshold").value = result.threshold;
  drawOverlay();
  drawMask();
  $("name").textContent = result.name;
  $("score").textContent = result.score.toFixed(3);
  $("seconds").textContent = result.seconds.toFixed(2);
  $("download-prob").href = result.prob_png;
  $("download-prob").download = `${stem(result.name)}_prob.png`;
  $("result").hidden = false;
}

function stem(name) {
  return name.replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_").slice(0, 80) || "photo";
}

async function analyse(file) {
  if (!file) return;
  const started = performance.now();
  if (info && file.size > info.max_upload_mb * 1048576) {
    say(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB is above this server's limit of ` +
        `${info.max_upload_mb} MB (start it with a larger --max-upload-mb)`, "error");
    return;
  }
  say(`analysing ${file.name} …`, "busy");
  const form = new FormData();
  form.append("image", file, file.name);
  let response, body;
  try {
    response = await fetch("/api/predict", {method: "POST", body: form});
    body = await response.json();
  } catch (error) {
    say(`${file.name}: no usable answer from the server (${error.message})`, "error");
    return;
  }
  if (!response.ok) {
    say(body.error || `${file.name}: the server answered ${response.status}`, "error");
    return;
  }
  try {
    await show(body);
  } catch (error) {
    say(`${file.name}: cannot display the answer (${error.message})`, "error");
    return;
  }
  window.firstOverlayMs = performance.now() - started;
  say("", "ready");
}

function download(canvas, suffix) {
  canvas.toBlob((blob) => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${stem(current.name)}_${suffix}.png`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}

function wire() {
  const drop = $("drop");
  $("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = "";  // choosing the same file again analyses it again
    analyse(file);
  });
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (event) => event.preventDefault());
  drop.addEventListener("dragover", () => drop.classList.add("over"));
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    drop.classList.remove("over");
    analyse(event.dataTransfer.files[0]);
  });
  $("opacity").addEventListener("input", () => current && drawOverlay());
  $("threshold").addEventListener("input", () => current && drawMask());
  $("side-by-side").addEventListener("change", (event) => {
    document.querySelector(".views").classList.toggle("side", event.target.checked);
  });
  $("download-mask").addEventListener("click", () => download($("mask"), "mask"));
  $("download-overlay").addEventListener("click", () => download($("overlay"), "overlay"));
}

wire();
loadInfo().catch((error) => say(`cannot reach the demo server (${error.message})`, "error"));
