// fake_video.mjs — a Y4M clip for Chromium's fake camera (--use-file-for-fake-video-capture),
// made at test time from a picture (never committed): the picture scaled to `scaledWidth`,
// and a width x height window that pans across it and back (cosine, so the clip loops without
// a jump: the fake camera plays the file in a loop).
//
//   import { readPpm, writeY4m } from './fake_video.mjs';
//   const info = writeY4m(readPpm('picture.ppm'), 'clip.y4m', { frames: 50 });
//   // info: { width, height, frames, scale, offsets: [[x, y] per frame] } (window origins, scaled picture)
import fs from 'node:fs';

/** A binary PPM (P6, maxval 255) as { width, height, rgb: Uint8Array }. */
export function readPpm(file) {
  const bytes = fs.readFileSync(file);
  let pos = 0;
  const token = () => {
    for (;;) {
      while (pos < bytes.length && /\s/.test(String.fromCharCode(bytes[pos]))) pos++;
      if (bytes[pos] !== 35) break;  // '#' comment
      while (pos < bytes.length && bytes[pos] !== 10) pos++;
    }
    let s = '';
    while (pos < bytes.length && !/\s/.test(String.fromCharCode(bytes[pos]))) s += String.fromCharCode(bytes[pos++]);
    return s;
  };
  if (token() !== 'P6') throw new Error(`${file} is not a binary PPM`);
  const width = Number(token()), height = Number(token()), maxval = Number(token());
  pos++;
  if (!(width > 0 && height > 0) || maxval !== 255) throw new Error(`${file}: unsupported PPM header`);
  const rgb = bytes.subarray(pos, pos + width * height * 3);
  if (rgb.length !== width * height * 3) throw new Error(`${file} is truncated`);
  return { width, height, rgb };
}

// Area-average resampling to (w, h): each output pixel averages the input pixels its footprint
// covers (whole pixels; enough for a test clip).
function resize(src, w, h) {
  const out = new Uint8Array(w * h * 3);
  const fx = src.width / w, fy = src.height / h;
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor(y * fy), y1 = Math.max(y0 + 1, Math.min(src.height, Math.floor((y + 1) * fy)));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor(x * fx), x1 = Math.max(x0 + 1, Math.min(src.width, Math.floor((x + 1) * fx)));
      let r = 0, g = 0, b = 0;
      for (let yy = y0; yy < y1; yy++) {
        let i = (yy * src.width + x0) * 3;
        for (let xx = x0; xx < x1; xx++, i += 3) r += src.rgb[i], g += src.rgb[i + 1], b += src.rgb[i + 2];
      }
      const n = (y1 - y0) * (x1 - x0), o = (y * w + x) * 3;
      out[o] = Math.round(r / n);
      out[o + 1] = Math.round(g / n);
      out[o + 2] = Math.round(b / n);
    }
  }
  return { width: w, height: h, rgb: out };
}

const clamp8 = (v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * Writes the clip. options: width (640), height (480), frames (50), fps (25), scaledWidth
 * (960), pan (the window's x travel in scaled pixels, 180), y (the window's top, centred).
 */
export function writeY4m(picture, file, options = {}) {
  const { width = 640, height = 480, frames = 50, fps = 25, scaledWidth = 960, pan = 180 } = options;
  const scale = scaledWidth / picture.width;
  const big = resize(picture, scaledWidth, Math.round(picture.height * scale));
  if (big.width < width + pan || big.height < height) {
    throw new Error(`fake video: the scaled picture ${big.width}x${big.height} is too small for a ${width}x${height} window panning ${pan} px`);
  }
  const x0 = Math.round((big.width - width - pan) / 2);
  const y = options.y ?? Math.round((big.height - height) / 2);
  const fd = fs.openSync(file, 'w');
  const offsets = [];
  try {
    // BT.601 studio range, 4:2:0 with centred chroma (C420jpeg, as ffmpeg writes it).
    fs.writeSync(fd, `YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n`);
    const Y = new Uint8Array(width * height), U = new Uint8Array((width / 2) * (height / 2)), V = new Uint8Array(U.length);
    for (let k = 0; k < frames; k++) {
      const x = x0 + Math.round(pan * (1 - Math.cos((2 * Math.PI * k) / frames)) / 2);
      offsets.push([x, y]);
      for (let j = 0; j < height; j++) {
        let s = ((y + j) * big.width + x) * 3;
        for (let i = 0; i < width; i++, s += 3) {
          Y[j * width + i] = clamp8(16 + (65.481 * big.rgb[s] + 128.553 * big.rgb[s + 1] + 24.966 * big.rgb[s + 2]) / 255);
        }
      }
      for (let j = 0; j < height / 2; j++) {
        for (let i = 0; i < width / 2; i++) {
          let r = 0, g = 0, b = 0;
          for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
            const s = ((y + 2 * j + dy) * big.width + x + 2 * i + dx) * 3;
            r += big.rgb[s], g += big.rgb[s + 1], b += big.rgb[s + 2];
          }
          r /= 4, g /= 4, b /= 4;
          U[j * (width / 2) + i] = clamp8(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
          V[j * (width / 2) + i] = clamp8(128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
        }
      }
      fs.writeSync(fd, 'FRAME\n');
      fs.writeSync(fd, Y);
      fs.writeSync(fd, U);
      fs.writeSync(fd, V);
    }
  } finally {
    fs.closeSync(fd);
  }
  return { width, height, frames, scale, offsets };
}

/** One window of the clip as a PPM (for checking the clip with the native build). */
export function writeFramePpm(picture, info, k, file) {
  const big = resize(picture, Math.round(picture.width * info.scale), Math.round(picture.height * info.scale));
  const [x, y] = info.offsets[k];
  const out = Buffer.alloc(info.width * info.height * 3);
  for (let j = 0; j < info.height; j++) {
    big.rgb.subarray(((y + j) * big.width + x) * 3, ((y + j) * big.width + x + info.width) * 3).forEach((v, i) => {
      out[j * info.width * 3 + i] = v;
    });
  }
  fs.writeFileSync(file, Buffer.concat([Buffer.from(`P6\n${info.width} ${info.height}\n255\n`), out]));
}
