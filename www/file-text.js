// The text of a scenario file, read only within Rust's bound for files
// (src/scenario_file.rs MAX_FILE): from a File (refused from its size,
// unread) or from a file link's payload (`#f=` then base64url of raw DEFLATE,
// as the snippet prints it), inflated with the browser's DecompressionStream
// and stopped as soon as the count passes the bound, so a deflate bomb never
// grows past it. Runs in the worker, next to the pytorch wasm (`L`).

/** {file} | {link: payload after `f=`} | {text} -> {ok: true, text} | {ok: false, error}. */
export async function fileText(msg, L) {
  if (msg.file) {
    const big = L.file_too_large(msg.file.size);
    return big ? { ok: false, error: big } : { ok: true, text: await msg.file.text() };
  }
  if (msg.link !== undefined) return inflateFileLink(String(msg.link), (n) => L.file_link_too_large(n));
  return { ok: true, text: String(msg.text ?? '') };
}

const fail = (error) => ({ ok: false, error });

async function inflateFileLink(payload, tooLarge) {
  const b64 = payload.replace(/=+$/, '');
  const bad = b64.match(/[^A-Za-z0-9_-]/);
  if (bad) return fail(`the f= link is not base64url: ${JSON.stringify(bad[0])} is not base64url`);
  // A lone last character holds no whole byte: dropped, as src/link.rs does.
  const whole = b64.length % 4 === 1 ? b64.slice(0, -1) : b64;
  const bin = atob(whole.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (whole.length % 4)) % 4));
  const packed = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  const reader = new Blob([packed]).stream().pipeThrough(new DecompressionStream('deflate-raw')).getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      const big = tooLarge(total);
      if (big) {
        reader.cancel().catch(() => {});
        return fail(big);
      }
      chunks.push(value);
    }
  } catch {
    return fail('the f= link is not raw DEFLATE data (damaged or cut short)');
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return fail("the f= link's file is not UTF-8 text");
  }
}
