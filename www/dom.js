// Tiny DOM helpers: elements from properties and children (text via
// textContent only, never innerHTML).
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith('aria-') || k.startsWith('data-') || k === 'role' || k === 'scope') e.setAttribute(k, String(v));
    else if (k === 'className') e.className = v;
    else if (k === 'htmlFor') e.htmlFor = v;
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

export function clear(node) {
  while (node.firstChild) node.firstChild.remove();
}

/** The shortest decimal that reads back as the same float32. */
export function f32str(v) {
  if (!Number.isFinite(v)) return String(v);
  const f = Math.fround(v);
  for (let p = 1; p <= 9; p++) {
    const t = Number(f.toPrecision(p));
    if (Math.fround(t) === f) return String(t);
  }
  return String(f);
}
