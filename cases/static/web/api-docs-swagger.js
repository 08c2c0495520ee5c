/* Starts Swagger UI on /api/docs/ (reintegration/templates/drf_spectacular/swagger_ui.html) from
   a file, not an inline script, so the page runs under the Content-Security-Policy's script-src
   'self'. It is drf-spectacular's swagger_ui.js (0.30), reading what that template filled in
   from the data- attributes of #swagger-ui; keep the two in step when drf-spectacular changes. */
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  const swaggerSettings = JSON.parse(root.dataset.settings || "{}");
  const oauth2Config = JSON.parse(root.dataset.oauth2Config || "{}");
  const schemaAuthNames = JSON.parse(root.dataset.schemaAuthNames || "[]");
  const csrfHeaderName = root.dataset.csrfHeaderName;
  const csrfToken = root.dataset.csrfToken;
  let schemaAuthFailed = false;
  let ui;
  const plugins = [];

  const reloadSchema = (ori) => (...args) => {
    schemaAuthFailed = false;
    setTimeout(() => ui.specActions.download());
    return ori(...args);
  };

  if (schemaAuthNames.length > 0) {
    plugins.push(() => ({
      statePlugins: {
        auth: {
          wrapActions: {
            authorizeOauth2: reloadSchema,
            authorize: reloadSchema,
            logout: reloadSchema,
          },
        },
      },
    }));
  }

  const isSchemaUrl = (url) =>
    ui !== undefined && url === new URL(ui.getConfigs().url, document.baseURI).href;

  const responseInterceptor = (response) => {
    if (!response.ok && isSchemaUrl(response.url)) {
      console.warn(
        "schema request received '" + response.status + "'. disabling credentials for schema till logout."
      );
      if (!schemaAuthFailed) {
        // Retry once only, never in a loop.
        schemaAuthFailed = true;
        setTimeout(() => ui.specActions.download());
      }
    }
    return response;
  };

  const injectAuthCredentials = (request) => {
    let authorized;
    if (ui !== undefined) {
      const state = ui.getState().get("auth").get("authorized");
      if (state !== undefined && Object.keys(state.toJS()).length !== 0) {
        authorized = state.toJS();
      }
    } else if (![undefined, "{}"].includes(localStorage.authorized)) {
      authorized = JSON.parse(localStorage.authorized);
    }
    if (authorized === undefined) {
      return;
    }
    for (const authName of schemaAuthNames) {
      const authDef = authorized[authName];
      if (authDef === undefined || authDef.schema === undefined) {
        continue;
      }
      if (authDef.schema.type === "http" && authDef.schema.scheme === "bearer") {
        request.headers["Authorization"] = "Bearer " + authDef.value;
        return;
      } else if (authDef.schema.type === "http" && authDef.schema.scheme === "basic") {
        request.headers["Authorization"] =
          "Basic " + btoa(authDef.value.username + ":" + authDef.value.password);
        return;
      } else if (authDef.schema.type === "apiKey" && authDef.schema.in === "header") {
        request.headers[authDef.schema.name] = authDef.value;
        return;
      } else if (authDef.schema.type === "oauth2" && authDef.token.token_type === "Bearer") {
        request.headers["Authorization"] = `Bearer ${authDef.token.access_token}`;
        return;
      }
    }
  };

  const requestInterceptor = (request) => {
    if (request.loadSpec && schemaAuthNames.length > 0 && !schemaAuthFailed) {
      try {
        injectAuthCredentials(request);
      } catch (e) {
        console.error("schema auth injection failed with error: ", e);
      }
    }
    // Only same-origin writes carry the CSRF token, as in drf-spectacular's script.
    if (!["GET", undefined].includes(request.method) && request.credentials === "same-origin") {
      request.headers[csrfHeaderName] = csrfToken;
    }
    return request;
  };

  ui = window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    dom_id: "#swagger-ui",
    presets: [window.SwaggerUIBundle.presets.apis],
    plugins,
    layout: "BaseLayout",
    requestInterceptor,
    responseInterceptor,
    ...swaggerSettings,
    // Never the public validator's badge: it would send our schema's address to
    // validator.swagger.io, another origin, on every load.
    validatorUrl: null,
  });

  if (Object.keys(oauth2Config).length > 0) {
    ui.initOAuth(oauth2Config);
  }
})();
