// A picture as the conv's input: decoded by the browser, centre-cropped to
// the input's aspect ratio and resized to height x width (canvas, high-quality
// smoothing), transparent areas composited on white, then channels by a
// stated rule, as float32 values x = pixel / 255 (torchvision's ToTensor).
// Quantizing x is the engine's (quantize_per_tensor); the codes it gives are
// what the scenario and its link keep, so the browser's resampling never
// matters after this step.

export const PICTURE_RULES = 'The picture is centre-cropped to the input\'s aspect ratio, then resized to its height × width. ' +
  '1 input channel: grey, (19595·R + 38470·G + 7471·B + 32768) >> 16 (ITU-R 601, as Pillow\'s convert("L")); ' +
  '3 channels: R, G, B; any other count: channel c takes R, G, B in turn (c mod 3). ' +
  'Each pixel becomes x = pixel / 255 (float32), quantized with the input scale and zero point.';

/** {values: Float32Array (CHW), pixels: Uint8Array (CHW), from, how, where(i)} for a shape. */
export async function pictureValues(file, shape) {
  const { in_channels: C, height: H, width: W } = shape;
  const bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width: bw, height: bh } = bmp;
  const from = `${bw}×${bh}`;
  // Centre crop to the aspect of W:H, then resize.
  let sw = bw;
  let sh = bh;
  if (bw * H > bh * W) sw = Math.max(1, Math.round((bh * W) / H));
  else sh = Math.max(1, Math.round((bw * H) / W));
  const sx = Math.floor((bw - sw) / 2);
  const sy = Math.floor((bh - sh) / 2);
  const canvas = new OffscreenCanvas(W, H);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, W, H);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bmp, sx, sy, sw, sh, 0, 0, W, H);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, W, H).data;
  const plane = H * W;
  const pixels = new Uint8Array(C * plane);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < plane; i++) {
      const r = rgba[4 * i];
      const g = rgba[4 * i + 1];
      const b = rgba[4 * i + 2];
      pixels[c * plane + i] = C === 1 ? (19595 * r + 38470 * g + 7471 * b + 32768) >> 16 : rgba[4 * i + (c % 3)];
    }
  }
  const values = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) values[i] = pixels[i] / 255;
  const cropped = sw !== bw || sh !== bh ? `cropped to ${sw}×${sh} at (${sx}, ${sy}), ` : '';
  const how = `${cropped}resized to ${W}×${H}, ${C === 1 ? 'grey' : C === 3 ? 'RGB' : `${C} channels (R, G, B in turn)`}`;
  const where = (i) => `channel ${Math.floor(i / plane)}, row ${Math.floor((i % plane) / W)}, col ${i % W}`;
  return { values, pixels, from, how, where };
}
