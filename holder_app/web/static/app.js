// akashi wallet: the little script there is. Everything works without it; with it, a QR
// code can be scanned with the camera where the browser offers BarcodeDetector.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const buttons = document.querySelectorAll("[data-scan]");
  if (!buttons.length) return;
  const canScan = "BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  if (!canScan) {
    document.querySelectorAll("[data-scan-unavailable]").forEach((el) => { el.hidden = false; });
    return;
  }
  buttons.forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", () => scanInto(document.getElementById(button.dataset.scan), button));
  });
});

async function scanInto(field, button) {
  const video = document.querySelector("[data-scan-video]");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (error) {
    document.querySelectorAll("[data-scan-unavailable]").forEach((el) => { el.hidden = false; });
    return;
  }
  const detector = new BarcodeDetector({ formats: ["qr_code"] });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  button.disabled = true;
  const stop = () => { stream.getTracks().forEach((track) => track.stop()); video.hidden = true; button.disabled = false; };
  const look = async () => {
    try {
      const codes = await detector.detect(video);
      if (codes.length) { field.value = codes[0].rawValue; stop(); field.focus(); return; }
    } catch (error) { stop(); return; }
    requestAnimationFrame(look);
  };
  look();
}
