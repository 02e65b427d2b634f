"""The web console in a real browser against a real server: feedback, search, items, a11y."""

from __future__ import annotations

import pytest

from .conftest import Console, Server

pytestmark = pytest.mark.browser


def test_like_moves_recommendations_and_is_explained(console: Console, server: Server) -> None:
    console.open()
    console.choose_user("dave")  # no history: cold-start (popular) list
    before = console.rec_ids()
    first = console.page.locator("#recs li").first
    liked_title = first.locator(".title-text").inner_text()
    first.get_by_role("button", name=f"Like {liked_title}", exact=True).click()
    console.page.wait_for_function(
        "() => document.querySelector('#recs-meta').textContent.startsWith('Updated after')"
    )
    after = console.rec_ids()
    assert after != before
    assert before[0] not in after  # consumed items are not recommended again
    assert "liked" in console.page.inner_text("#recs-meta")
    # What moved is shown: every row carries a "new" badge or a rank arrow.
    assert console.page.locator("#recs li .move").count() == len(after)
    # The explanations the console shows come from the API, and one names the liked film.
    texts = console.page.locator("#recs .why[data-from=api]").all_inner_texts()
    assert len(texts) == len(after)
    assert any(liked_title in t for t in texts), texts
    assert liked_title in console.page.locator("#history li").first.inner_text()


def test_search_finds_the_title_first_then_personalizes(console: Console) -> None:
    console.open()
    page = console.page
    page.fill("#search-input", "lion king")
    page.press("#search-input", "Enter")
    page.wait_for_selector("#search-results li")
    top = page.locator("#search-results li").first
    assert top.locator(".title-text").inner_text() == "Lion King, The (1994)"
    assert "personalized" not in page.inner_text("#search-meta")
    # Choosing a user re-runs the search for them.
    console.choose_user("alice")
    page.wait_for_function(
        "() => document.querySelector('#search-meta').textContent.includes('user alice')"
    )
    titles = page.locator("#search-results .title-text").all_inner_texts()
    assert "Lion King, The (1994)" in titles[:3]


def test_added_item_is_found_at_once(console: Console) -> None:
    console.open()
    page = console.page
    page.fill("#item-id", "e2e-harbor")
    page.fill("#item-categories", "Mystery, Drama")
    page.fill("#item-text", "A lighthouse keeper solves a smuggling case.")
    page.fill("#item-title", "Moonlit Harbor Mystery (2024)")
    page.press("#item-title", "Enter")  # Enter submits the form
    page.wait_for_selector("#search-results li")
    assert page.locator("#search-results li").first.get_attribute("data-id") == "e2e-harbor"
    assert "Added" in page.inner_text("#item-result")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('11')")


def test_keyboard_alone_reaches_and_presses_like(console: Console) -> None:
    console.open()
    page = console.page

    def tab_to(selector: str, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("s => document.activeElement.matches(s)", selector):
                return
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#user-input")
    page.keyboard.type("erin")
    page.keyboard.press("Enter")
    page.wait_for_selector("#recs li")
    tab_to("#recs button[data-kind=like]")
    label = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    page.keyboard.press("Enter")
    title = label.removeprefix("Like ")
    page.wait_for_function(
        "t => document.querySelector('#history').textContent.includes(t)", arg=title
    )
    # Focus stays in the list after it refreshed, so the keyboard user is not lost.
    page.wait_for_function("() => !!document.activeElement.closest('#recs li')")


def test_api_error_is_shown_in_the_alert(console: Console) -> None:
    console.expected.append("status of 422")  # the browser logs the refused request
    console.open()
    page = console.page
    page.fill("#item-id", "blank-title")
    page.fill("#item-title", "   ")
    page.press("#item-title", "Enter")
    alert = page.get_by_role("alert")
    alert.get_by_text("title must be a non-empty string").wait_for()
    assert "items.0.title" in alert.inner_text()
    console.snap("alert")
    page.get_by_role("button", name="Dismiss").click()
    assert not page.locator("#alert").is_visible()


def test_map_and_evaluation_views(console: Console, server: Server) -> None:
    console.open("/?user=alice")
    page = console.page
    page.get_by_role("link", name="Item map").click()
    page.wait_for_function("() => document.querySelector('#map-meta').textContent.includes('of')")
    assert "user alice" in page.inner_text("#map-meta")
    assert "profile marked" in page.inner_text("#map-meta")
    assert page.locator("#map-legend li").count() >= 4
    console.snap("map")
    page.get_by_role("link", name="Evaluation").click()
    page.wait_for_selector("#report table")
    assert "SASRec" in page.inner_text("#report")
    assert page.locator("#report td.best strong").count() == 2  # lmrec best on both metrics
    console.snap("evaluation")
    img = page.locator("#report .chart img")
    img.wait_for()
    page.wait_for_function("() => document.querySelector('#report .chart img').naturalWidth > 0")


def test_evaluation_without_report_says_how_to_make_one(console: Console, server: Server) -> None:
    reports = server.data_dir / "reports"
    hidden = server.data_dir / "reports-hidden"
    reports.rename(hidden)
    try:
        console.open("/#/evaluation")
        console.page.wait_for_selector("#no-report")
        assert "lmrec evaluate" in console.page.inner_text("#no-report")
    finally:
        hidden.rename(reports)
