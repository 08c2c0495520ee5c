/* Starts Redoc on /api/redoc/ (reintegration/templates/drf_spectacular/redoc.html) from a file,
   not an inline script, so the page runs under the Content-Security-Policy's script-src 'self'.
   The schema URL, Redoc's settings and the response's CSP nonce come from data- attributes. */
"use strict";

(function () {
  // Redoc's side menu shows its maker's logo from cdn.redoc.ly (Redocly/redoc#2141), which would
  // tell a third party who reads our API docs. Nothing on this page may come from another
  // origin, so an image whose address is on another server never gets it and is never
  // requested: React gives an <img> its src both as an attribute and, once mounted, as a
  // property, so both are guarded.
  const elsewhere = (value) => {
    const url = new URL(String(value), document.baseURI);
    return /^https?:$/.test(url.protocol) && url.origin !== window.location.origin;
  };
  const setAttribute = Element.prototype.setAttribute;
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src" && elsewhere(value)) {
      return undefined;
    }
    return setAttribute.call(this, name, value);
  };
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) {
      if (!elsewhere(value)) {
        src.set.call(this, value);
      }
    },
  });

  const container = document.getElementById("redoc-container");
  const settings = JSON.parse(container.dataset.settings || "{}");
  // Redoc tags the <style> elements it writes with this nonce, which the policy allows.
  settings.nonce = container.dataset.nonce;
  window.Redoc.init(container.dataset.specUrl, settings, container);
})();
