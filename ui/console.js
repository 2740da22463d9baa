// The console's entry: sign-in with an API key (kept in sessionStorage), then the views by
// location hash: #/ upload, #/file/ID a file, #/admin the administration (admin keys).

import { session, whoAmI } from "./api.js";
import { adminView } from "./admin-view.js";
import { h, show } from "./dom.js";
import { fileView } from "./file-view.js";
import { connect, disconnect } from "./live.js";
import { uploadView } from "./upload-view.js";

const main = document.getElementById("main");
let identity = null;

function signInView() {
  const key = h("input#api-key", { type: "password", autocomplete: "off", required: true, placeholder: "msd_…", spellcheck: "false" });
  const message = h("p.error");
  const form = h(
    "form#sign-in",
    {
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          identity = await whoAmI(key.value.trim());
          session.key = key.value.trim();
          start();
        } catch (err) {
          show(message, err.status === 401 ? "This key is not valid." : `${err.code}: ${err.message}`);
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "Use the API key your administrator gave you. It is kept in this tab only, until you sign out or close it."),
    h("label", {}, "API key ", key),
    h("button", { type: "submit" }, "Sign in"),
    message,
  );
  document.getElementById("nav").hidden = true;
  show(main, form);
  key.focus();
}

async function start() {
  try {
    identity ??= await whoAmI(session.key);
  } catch {
    session.key = null;
    return signInView();
  }
  document.getElementById("nav").hidden = false;
  document.getElementById("nav-admin").hidden = !identity.admin;
  show(document.getElementById("whoami"), identity.admin ? "administrator" : "");
  connect();
  route();
}

function route() {
  if (!session.key) return signInView();
  const [, view, id] = location.hash.split("/");
  if (view === "file" && id) return fileView(main, decodeURIComponent(id));
  if (view === "admin" && identity?.admin) return adminView(main);
  return uploadView(main);
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.key = null;
  identity = null;
  disconnect();
  location.hash = "#/";
  signInView();
});
addEventListener("hashchange", () => identity && route());
if (session.key) start();
else signInView();
