// passkey.js: the browser half of the passkey package (WebAuthn), and the
// gate pages' only script (the pages' CSP allows script-src 'self', nothing
// inline). Progressive enhancement of a form such as:
//
//   <form method="post" action="..." data-passkey="get"
//         data-passkey-options="{...options JSON from passkey.Begin...}"
//         data-passkey-unsupported="This browser can't use passkeys."
//         data-passkey-cancelled="Cancelled, or no passkey answered. Try again."
//         data-passkey-exists="This authenticator already holds a passkey for you."
//         data-passkey-failed="The passkey did not work. Try again.">
//     <input type="hidden" name="csrf" value="...">
//     <input type="hidden" name="passkey_response" data-passkey-response>
//     <p class="error" data-passkey-message role="alert" hidden></p>
//     <button type="submit" data-passkey-button hidden>Use a passkey</button>
//   </form>
//
// data-passkey is "create" (register) or "get" (sign in). On submit the
// script runs the ceremony, writes the credential's JSON into the hidden
// response field and submits the form itself, so the form's CSRF token goes
// with it. Messages come from the data attributes (translated by the page).
// The button may ship hidden or disabled, so a browser without scripts
// shows no button that can only fail: the script shows and enables it where
// WebAuthn works, and shows the unsupported message elsewhere.
(function () {
  "use strict";

  function toBytes(s) {
    s = String(s).replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) {
      var out = { type: d.type, id: toBytes(d.id) };
      if (d.transports) out.transports = d.transports;
      return out;
    });
  }

  // publicKey turns the server's options JSON (byte fields base64url) into
  // what navigator.credentials[mode] wants (ArrayBuffers), with the
  // browser's own parser where it has one.
  function publicKey(mode, o) {
    var parse = mode === "create" ? "parseCreationOptionsFromJSON" : "parseRequestOptionsFromJSON";
    try {
      if (window.PublicKeyCredential[parse]) return window.PublicKeyCredential[parse](o);
    } catch (e) { /* an older parser: convert by hand */ }
    var out = Object.assign({}, o);
    out.challenge = toBytes(o.challenge);
    if (mode === "create") {
      out.user = Object.assign({}, o.user, { id: toBytes(o.user.id) });
      out.excludeCredentials = descriptors(o.excludeCredentials);
    } else {
      out.allowCredentials = descriptors(o.allowCredentials);
    }
    return out;
  }

  // credentialJSON is the credential as the server reads it.
  function credentialJSON(c) {
    if (typeof c.toJSON === "function") return c.toJSON();
    var r = c.response, out = {
      id: c.id,
      rawId: toB64(c.rawId),
      type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || undefined,
      clientExtensionResults: c.getClientExtensionResults ? c.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64(r.authenticatorData);
      out.response.signature = toB64(r.signature);
      out.response.userHandle = toB64(r.userHandle);
    }
    return out;
  }

  // say shows the message for key ("" hides it).
  function say(form, key) {
    var el = form.querySelector("[data-passkey-message]");
    var text = key === "" ? "" : form.getAttribute("data-passkey-" + key) || form.getAttribute("data-passkey-failed") || "";
    if (!el) return;
    el.textContent = text;
    el.hidden = text === "";
    el.setAttribute("data-passkey-state", key);
  }

  function supported() {
    return !!(window.PublicKeyCredential && navigator.credentials && window.isSecureContext);
  }

  function enhance(form) {
    var mode = form.getAttribute("data-passkey");
    var field = form.querySelector("[data-passkey-response]");
    var button = form.querySelector("[data-passkey-button]");
    if ((mode !== "create" && mode !== "get") || !field) return;
    if (!supported()) {
      say(form, "unsupported");
      if (button) button.disabled = true;
      return;
    }
    if (button) {
      button.hidden = false;
      button.disabled = false;
    }
    var busy = false;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) return;
      var options;
      try {
        // Read at submit time: a page may renew the options.
        options = JSON.parse(form.getAttribute("data-passkey-options"));
      } catch (e) {
        say(form, "failed");
        return;
      }
      busy = true;
      if (button) button.disabled = true;
      say(form, "");
      var call;
      try {
        call = navigator.credentials[mode]({ publicKey: publicKey(mode, options) });
      } catch (e) {
        call = Promise.reject(e);
      }
      Promise.resolve(call).then(function (cred) {
        if (!cred) throw new Error("no credential");
        field.value = JSON.stringify(credentialJSON(cred));
        // The prototype's submit: a field named "submit" can't shadow it.
        HTMLFormElement.prototype.submit.call(form);
      }).catch(function (e) {
        busy = false;
        if (button) button.disabled = false;
        var name = e && e.name;
        if (name === "NotAllowedError" || name === "AbortError") say(form, "cancelled");
        else if (name === "InvalidStateError" && mode === "create") say(form, "exists");
        else if (name === "NotSupportedError") say(form, "unsupported");
        else say(form, "failed");
      });
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) enhance(forms[i]);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
