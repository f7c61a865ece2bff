// Zoom and pan of the heatmap: which part of the painted buffer (image
// pixels) the visible canvas shows. Wheel and pinch zoom about the pointer,
// a drag pans (mouse, or one finger once zoomed in), and the heatmap's keys
// call zoomAtImage/reset/show. A view change only redraws the buffer already
// painted: the engine is not asked again.
const MAX_ZOOM = 64;

export class ZoomView {
  constructor(canvas, redraw) {
    this.canvas = canvas;
    this.redraw = redraw;
    this.W = 1;
    this.H = 1;
    this.max = 1;
    this.zoom = 1;
    this.sx = 0;
    this.sy = 0;
    this.dragged = false;
    this.pointers = new Map();
    canvas.addEventListener('wheel', (e) => this.#wheel(e), { passive: false });
    canvas.addEventListener('pointerdown', (e) => this.#down(e));
    canvas.addEventListener('pointermove', (e) => this.#move(e));
    for (const t of ['pointerup', 'pointercancel']) canvas.addEventListener(t, (e) => this.#up(e));
    this.#publish();
  }

  get sw() { return this.W / this.zoom; }
  get sh() { return this.H / this.zoom; }

  /** A buffer of `W x H` image pixels for `side` output pixels across: a new size resets the view. */
  fit(W, H, side) {
    // Zoom in until about four output pixels fill the width, at most 64x.
    this.max = Math.max(1, Math.min(MAX_ZOOM, side / 4));
    if (W === this.W && H === this.H) return;
    this.W = W;
    this.H = H;
    this.zoom = 1;
    this.sx = this.sy = 0;
    this.#publish();
  }

  reset() {
    this.zoom = 1;
    this.sx = this.sy = 0;
    this.#changed();
  }

  /** Client coordinates to image pixels. */
  toImage(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    return [this.sx + ((clientX - r.left) / r.width) * this.sw, this.sy + ((clientY - r.top) / r.height) * this.sh];
  }

  /** Zoom by `factor` keeping image point `at` ([x, y]; the view's centre when null) where it is. */
  zoomAtImage(factor, at = null) {
    const [ix, iy] = at ?? [this.sx + this.sw / 2, this.sy + this.sh / 2];
    const fx = (ix - this.sx) / this.sw, fy = (iy - this.sy) / this.sh;
    const z = Math.min(this.max, Math.max(1, this.zoom * factor));
    if (z === this.zoom) return false;
    this.zoom = z;
    this.sx = ix - fx * this.sw;
    this.sy = iy - fy * this.sh;
    this.#changed();
    return true;
  }

  /** Pan so that the image square at (x, y) of side `s` is in view. */
  show(x, y, s) {
    const sx = Math.min(x, Math.max(this.sx, x + s - this.sw));
    const sy = Math.min(y, Math.max(this.sy, y + s - this.sh));
    if (sx === this.sx && sy === this.sy) return;
    this.sx = sx;
    this.sy = sy;
    this.#changed();
  }

  #changed() {
    this.sx = Math.min(Math.max(0, this.sx), this.W - this.sw);
    this.sy = Math.min(Math.max(0, this.sy), this.H - this.sh);
    this.#publish();
    this.redraw();
  }

  /** The view as data attributes (for tests and styles); touch pans the page only at 1x. */
  #publish() {
    const d = this.canvas.dataset;
    d.zoom = String(+this.zoom.toFixed(4));
    d.view = [this.sx, this.sy, this.sw, this.sh].map((v) => +v.toFixed(2)).join(',');
    this.canvas.style.touchAction = this.zoom > 1 ? 'none' : 'pan-y';
  }

  #wheel(e) {
    const [ix, iy] = this.toImage(e.clientX, e.clientY);
    // Lines or pages of scroll count as 40 px steps; 100 px zooms by ~1.2.
    const px = e.deltaY * (e.deltaMode === 0 ? 1 : 40);
    // At 1x a scroll down is the page's: only a zoom that happens is taken.
    if (this.zoomAtImage(Math.exp(-px / 550), [ix, iy])) e.preventDefault();
  }

  #down(e) {
    if (e.pointerType === 'mouse' && e.button !== 0) return;
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    this.start = { x: e.clientX, y: e.clientY };
    this.dragged = false;
  }

  #move(e) {
    const p = this.pointers.get(e.pointerId);
    if (!p) return;
    const prev = [...this.pointers.values()].map((q) => ({ ...q }));
    p.x = e.clientX;
    p.y = e.clientY;
    const r = this.canvas.getBoundingClientRect();
    if (this.pointers.size === 2) {
      // Pinch: the distance's ratio zooms, and the image point that was under
      // the fingers' midpoint goes where the midpoint is now. Each finger's
      // move arrives alone; the same image point follows the midpoint through
      // all of them (no drift), and two fingers moving together pan.
      const now = [...this.pointers.values()];
      const dist = (a) => Math.hypot(a[0].x - a[1].x, a[0].y - a[1].y);
      const mid = (a) => [(a[0].x + a[1].x) / 2, (a[0].y + a[1].y) / 2];
      const d0 = dist(prev), d1 = dist(now);
      if (d0 > 0) {
        const [ix, iy] = this.toImage(...mid(prev));
        const [mx, my] = mid(now);
        this.zoom = Math.min(this.max, Math.max(1, this.zoom * (d1 / d0)));
        this.sx = ix - ((mx - r.left) / r.width) * this.sw;
        this.sy = iy - ((my - r.top) / r.height) * this.sh;
        this.#changed();
      }
      this.dragged = true;
      return;
    }
    if (this.zoom === 1 || this.pointers.size !== 1) return;
    if (!this.dragged && Math.hypot(e.clientX - this.start.x, e.clientY - this.start.y) < 4) return;
    const old = prev[0];
    this.dragged = true;
    this.canvas.setPointerCapture?.(e.pointerId);
    this.sx -= ((e.clientX - old.x) / r.width) * this.sw;
    this.sy -= ((e.clientY - old.y) / r.height) * this.sh;
    this.#changed();
  }

  #up(e) {
    this.pointers.delete(e.pointerId);
    // `dragged` stays set through the click that ends a pan; the next press clears it.
  }
}
