// The HTTP API with the key from sessionStorage (never a URL or a cookie).

const KEY = "msd.apiKey";

export const session = {
  get key() {
    return sessionStorage.getItem(KEY);
  },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(res) {
  const body = await res.json().catch(() => null);
  return new ApiError(res.status, body?.error?.code ?? `HTTP_${res.status}`, body?.error?.message ?? res.statusText);
}

export async function api(method, path, { key = session.key } = {}) {
  const res = await fetch(path, { method, headers: key ? { authorization: `Bearer ${key}` } : {}, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** Who a key belongs to: any valid key reads the queue counts; only an admin key reads the quarantine. */
export async function whoAmI(key) {
  await api("GET", "/api/medical-files/scan-queue", { key });
  try {
    await api("GET", "/api/admin/quarantine?state=held", { key });
    return { admin: true };
  } catch (err) {
    if (err.status === 403) return { admin: false };
    throw err;
  }
}

/** A clean file's bytes, saved under its name (the link is made and revoked here). */
export async function download(fileId, name) {
  const res = await fetch(`/api/medical-files/${encodeURIComponent(fileId)}/content`, { headers: { authorization: `Bearer ${session.key}` }, cache: "no-store" });
  if (!res.ok) throw await failure(res);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name || fileId;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** One multipart upload with its progress (fetch reports none for a request body). */
export function uploadWithProgress(file, name, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/medical-files/upload?wait=0");
    xhr.setRequestHeader("authorization", `Bearer ${session.key}`);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener("load", () => {
      const body = xhr.response;
      if (xhr.status === 200 || xhr.status === 202) resolve(body);
      else reject(new ApiError(xhr.status, body?.error?.code ?? `HTTP_${xhr.status}`, body?.error?.message ?? "the upload failed"));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, "NETWORK", "the connection failed")));
    const form = new FormData();
    form.append("file", file, name);
    xhr.send(form);
  });
}
