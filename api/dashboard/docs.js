// The API docs: Swagger UI (served by the API itself) over /openapi.json. No validator badge (it would
// call an outside service); "Authorize" keeps the token in this page's memory only.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  persistAuthorization: false,
  deepLinking: true,
});
