/* Starts Redoc on /api/redoc/ (reintegration/templates/drf_spectacular/redoc.html) from a file,
   not an inline script, so the page runs under the Content-Security-Policy's script-src 'self'.
   The schema URL, Redoc's settings and the response's CSP nonce come from data- attributes. */
"use strict";

(function () {
  // Redoc's side menu shows its maker's logo from cdn.redoc.ly (Redocly/redoc#2141), which would
  // tell a third party who reads our API docs. Nothing on this page may come from another
  // origin, so an image whose src is elsewhere never gets it and is never requested.
  const setAttribute = Element.prototype.setAttribute;
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    if (String(name).toLowerCase() === "src") {
      const url = new URL(String(value), document.baseURI);
      if (url.origin !== window.location.origin) {
        return undefined;
      }
    }
    return setAttribute.call(this, name, value);
  };

  const container = document.getElementById("redoc-container");
  const settings = JSON.parse(container.dataset.settings || "{}");
  // Redoc tags the <style> elements it writes with this nonce, which the policy allows.
  settings.nonce = container.dataset.nonce;
  window.Redoc.init(container.dataset.specUrl, settings, container);
})();
