// Every element is built here, and every string goes in as text: nothing from a file, a
// server or a user is ever parsed as HTML.

/** h("tag.class#id", {attr: value, onclick: fn}, ...children): children are nodes or strings (as text). */
export function h(spec, props = {}, ...children) {
  const [, tag, rest] = /^([a-z0-9-]+)(.*)$/.exec(spec);
  const el = document.createElement(tag);
  for (const [, kind, name] of rest.matchAll(/([.#])([\w-]+)/g)) {
    if (kind === ".") el.classList.add(name);
    else el.id = name;
  }
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces an element's content. */
export function show(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function badge(status) {
  return h(`span.badge.status-${/^[a-z]+$/.test(status) ? status : "unknown"}`, {}, status);
}

export function bytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} KB`;
  return `${n} B`;
}

/** A modal confirmation (the page's own <dialog>): resolves true only on Confirm. */
export function confirmAction(text) {
  const dialog = document.getElementById("confirm");
  show(document.getElementById("confirm-text"), text);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}
