// Starts GraphiQL on the page the service serves at GET /graphql in dev (app/graphiql/page.html).
// A file of its own: the page's content security policy runs no inline script.
(function () {
  "use strict";

  var DEFAULT_QUERY = [
    "# Xinzheng (信证) GraphiQL, dev only.",
    "# Everything on this page comes from the service itself.",
    "#",
    "# A dev token, in a terminal:",
    "#   xinzheng token --role bank --org 91330100MA2H00001P",
    "# then, in the Headers tab below:",
    '#   {"Authorization": "Bearer <token>"}',
    "# Without one you are the public. The README lists",
    "# the demo subjects and queries.",
    "",
    "{ me { role sub org idNumber } }",
    "",
  ].join("\n");

  // GraphiQL's dialogs add a <style> element while open (react-remove-scroll, through get-nonce,
  // which reads __webpack_nonce__): it carries this page's nonce, the one inline style the
  // content security policy admits.
  window.__webpack_nonce__ = document.querySelector('meta[name="style-nonce"]').content;

  var url = window.location.origin + window.location.pathname;
  var fetcher = GraphiQL.createFetcher({ url: url });

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: true,
      defaultEditorToolsVisibility: "headers",
      // Tokens stay out of the browser's storage: paste one again after a reload.
      shouldPersistHeaders: false,
    }),
  );
})();
