"""GraphiQL in dev, as a person uses it, with no internet (SPEC section 5).

Chromium can resolve no name and reach nothing but the service; it loads `GET /graphql`, the
README's demo bank token goes into GraphiQL's headers editor and the README's bank credit query
into its query editor, and the run button brings the subject's data into the answer panel. Every
request the browser made went to the service, and the page's content security policy refused
nothing (so nothing GraphiQL does needs more than it allows).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Locator, expect, sync_playwright

from tests.browser.conftest import LiveService

BANK = "91330100MA2H00001P"  # 惠民银行, the README's demo bank
# The README's bank credit query: 李明, with his consent HM-2026-0002 to 惠民银行.
BANK_QUERY = """query { person(idNumber: "330105199007080010",
               access: {purpose: LOAN_APPROVAL, consentId: "HM-2026-0002"}) {
    idNumber name phone creditScore { score grade factors { code description impact } }
    penalties { decisionNumber severity status decidedOn } licences { title status } } }"""
OFFLINE_FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No name resolves but the loopback address the service listens on: a CDN is unreachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Kept by the page itself from its first script on: what the content security policy refused.
WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI || "inline"}`));
"""
VENDORED = {"react.production.min.js", "react-dom.production.min.js", "graphiql.min.js", "graphiql.min.css"}


def test_graphiql_runs_the_bank_query_with_no_network(chromium: Path, live_service: LiveService, tmp_path: Path) -> None:
    token = live_service.xinzheng("token", "--role", "bank", "--org", BANK).strip()
    requested: list[str] = []
    failed: list[str] = []
    console_errors: list[str] = []
    page_errors: list[str] = []

    def on_response(url: str, status: int) -> None:
        if status >= 400:
            failed.append(f"{status} {url}")

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",  # a fresh profile
            executable_path=chromium,
            headless=True,
            chromium_sandbox=False,  # root here: --no-sandbox
            args=OFFLINE_FLAGS,
            locale="zh-CN",
        )
        try:
            context.set_default_timeout(15_000)
            context.add_init_script(WATCH_VIOLATIONS)
            context.on("request", lambda r: requested.append(r.url))
            context.on("requestfailed", lambda r: failed.append(f"{r.failure} {r.url}"))
            context.on("response", lambda r: on_response(r.url, r.status))
            page = context.pages[0] if context.pages else context.new_page()
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))

            page.goto(f"{live_service.base_url}/graphql")
            query_editor = page.get_by_role("region", name="Query Editor")
            expect(query_editor).to_contain_text("xinzheng token")  # started: our default query

            # A dialog opens, as it should under the policy (it adds a style element, by nonce).
            page.get_by_role("button", name="Open settings dialog").click()
            expect(page.get_by_role("dialog")).to_contain_text("Settings")
            page.keyboard.press("Escape")
            expect(page.get_by_role("dialog")).to_have_count(0)

            page.get_by_role("button", name="Headers", exact=True).click()
            type_into(page.get_by_role("region", name="Headers").get_by_role("textbox"),
                      json.dumps({"Authorization": f"Bearer {token}"}))  # fmt: skip
            type_into(query_editor.get_by_role("textbox"), BANK_QUERY)
            page.get_by_role("button", name="Execute query").click()

            answer = page.get_by_role("region", name="Result Window")
            expect(answer).to_contain_text('"name": "李明"')
            expect(answer).to_contain_text('"idNumber": "330105********0010"')  # masked for a bank
            expect(answer).to_contain_text('"score":')
            violations = page.evaluate("window.__violations")
        finally:
            context.close()

    origins = {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in requested if not url.startswith("data:")}
    assert origins == {live_service.base_url}, requested
    assert VENDORED <= {Path(urlsplit(url).path).name for url in requested}, requested
    assert failed == [], failed
    assert violations == [], violations
    assert page_errors == [] and console_errors == [], (page_errors, console_errors)


def type_into(editor_input: Locator, text: str) -> None:
    """Replace an editor's text as a paste would (typed keys would have brackets closed for them)."""
    editor_input.focus()
    editor_input.page.keyboard.press("ControlOrMeta+A")
    editor_input.page.keyboard.insert_text(text)

