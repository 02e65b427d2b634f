"""Explanations: every source gets a sentence, attributions are leave-one-out, routes work."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lmrec.api import create_app
from lmrec.engine import Engine
from lmrec.engine.explain import ExplainedItems, Explanation, _ordinal
from lmrec.errors import NotFoundError
from lmrec.model import ModelConfig
from lmrec.schema import Event, EventKind, User

from ..conftest import MOVIES, fake_settings  # type: ignore[import-not-found]

SCIFI = ["2", "3", "4", "8"]
KIDS = ["1", "6", "7"]
TINY = ModelConfig(dim=16, text_hidden=32, max_len=20, n_layers=1, max_epochs=8, patience=8)


def _ev(user: str, kind: EventKind, item: str, ts: float) -> Event:
    return Event(user=user, kind=kind, item=item, ts=ts, id=f"{user}-{item}-{kind.value}-{ts}")


def _fan_events(user: str = "a") -> list[Event]:
    """Likes Star Wars, clicked Alien, disliked Aladdin."""
    return [
        _ev(user, EventKind.LIKE, "2", 1.0),
        _ev(user, EventKind.CLICK, "8", 2.0),
        _ev(user, EventKind.DISLIKE, "6", 3.0),
    ]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path, store="memory"))
    eng.upsert_items(MOVIES)
    eng.ingest(_fan_events())
    yield eng
    eng.close()


def _pool_events() -> list[Event]:
    out = []
    ts = 0.0
    for u in range(30):
        pool = SCIFI if u % 2 == 0 else KIDS
        for n, item in enumerate(pool[u % len(pool) :] + pool[: u % len(pool)]):
            ts += 60
            out.append(Event(user=f"u{u}", kind=EventKind.CLICK, item=item, ts=ts, id=f"{u}-{n}"))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine.open(settings=fake_settings(tmp_path_factory.mktemp("trained")))
    eng.upsert_items(MOVIES)
    eng.upsert_users([User("p1", {"age": 30, "interests": "space battles and aliens"})])
    eng.ingest(_pool_events())
    eng.train(TINY, progress=False)
    yield eng
    eng.close()


# -- the content path ------------------------------------------------------------------


def test_content_recommendations_name_the_history_that_drove_them(engine: Engine) -> None:
    recs = engine.recommend("a", k=5, explain=True)
    assert isinstance(recs, ExplainedItems)
    assert recs.explanations is not None and all(recs.explanations)
    assert recs.explanations == tuple(d.sentence for d in recs.details)
    empire = recs.details[recs.ids.index("3")]
    assert empire.source == "content" and empire.rank == 1 and empire.candidates == 7
    top = empire.contributions[0]
    assert (top.item, top.title, top.kind) == ("2", "Star Wars (1977)", "like") and top.drop > 0
    assert empire.sentence.startswith("Because you liked Star Wars (1977)")
    assert empire.category == "Sci-Fi" and empire.sentence.endswith("like Sci-Fi")
    # the dislike pulls the profile away from Aladdin-like items: a negative drop
    lion = engine.explain("a", "7")
    assert any(c.item == "6" and c.drop < 0 for c in lion.contributions)


def test_contribution_is_the_score_drop_without_the_item(engine: Engine) -> None:
    """Leave-one-out, checked against a user who simply never clicked Alien."""
    engine.ingest([e for e in _fan_events("b") if e.item != "8"])
    ex = engine.explain("a", "3")
    drop = {c.item: c.drop for c in ex.contributions}["8"]
    with_alien = engine.rank("a", ["3"]).scores[0]
    without = engine.rank("b", ["3"]).scores[0]
    assert ex.score == pytest.approx(with_alien, abs=1e-5)
    assert drop == pytest.approx(with_alien - without, abs=1e-5)


def test_popular_rows_and_unknown_users(engine: Engine) -> None:
    recs = engine.recommend("stranger", k=3, explain=True)
    assert set(recs.sources) == {"popular"}
    popular = "Popular with other users right now"
    assert recs.explanations == (popular, popular, "New here: no one has chosen it yet")
    low = engine.explain("stranger", "10")
    assert low.source == "popular" and low.rank is not None and low.rank > 1
    assert low.sentence.startswith(f"Ranked {_ordinal(low.rank)} of 10 by popularity")
    assert "do not know your taste" in low.sentence


def test_low_ranked_item_says_why(engine: Engine) -> None:
    lion = engine.explain("a", "7")  # Lion King: close to Aladdin, which "a" disliked
    assert lion.rank == 6 and lion.candidates == 7
    assert lion.sentence == "Ranked 6th of 7: you disliked a similar item, Aladdin (1992)"
    assert lion.disliked == ("6", "Aladdin (1992)")
    engine.ingest([_ev("c", EventKind.LIKE, "2", 1.0), _ev("c", EventKind.LIKE, "3", 2.0)])
    far = engine.explain("c", "10")  # Sense and Sensibility, for a Star Wars fan
    assert far.rank is not None and far.rank > far.candidates // 2
    assert "it is far from what you liked recently (your closest: " in far.sentence
    assert far.closest is not None and far.closest[1] in far.sentence


def test_consumed_and_unknown_items(engine: Engine) -> None:
    seen = engine.explain("a", "2")
    assert seen.rank is None and seen.sentence == "Not recommended to you: you already liked it"
    with pytest.raises(NotFoundError):
        engine.explain("a", "nope")


def test_explain_false_does_no_extra_work(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise AssertionError("explaining ran without explain=True")

    monkeypatch.setattr(Engine, "_explainer", boom)
    recs = engine.recommend("a", k=3)
    found = engine.search("toy", user="a", k=3)
    assert type(recs) is not ExplainedItems and recs.explanations is None
    assert type(found) is not ExplainedItems and found.explanations is None


# -- search ---------------------------------------------------------------------------------


def test_search_names_matched_terms(engine: Engine) -> None:
    found = engine.search("galactic rebels", k=3, explain=True)
    assert isinstance(found, ExplainedItems)
    top = found.details[0]
    assert top.source == "search" and top.rank == 1
    assert set(top.matched_terms) == {"galactic", "rebels"} and top.matched_fields == ("text",)
    assert top.sentence == "Matches 'galactic' and 'rebels' in the description"
    toy = engine.search("toy", k=2, explain=True)
    assert toy.explanations is not None
    assert toy.explanations[0] == "Matches 'toy' in the title"
    exact = engine.search("toy stroy", k=1, explain=True)  # typo, then the exact title
    assert exact.explanations == ("Its title matches 'toy story' exactly",)
    page2 = engine.search("empire", k=1, offset=1, explain=True)
    assert page2.details[0].rank == 2


def test_personalized_search_adds_the_personal_part(engine: Engine) -> None:
    found = engine.search("empire", user="a", k=3, explain=True, personalize=0.5)
    assert found.explanations is not None
    assert found.explanations[0].startswith("Matches 'empire' in ")
    assert any("ranked higher because you liked Star Wars (1977)" in s for s in found.explanations)
    anonymous = engine.search("empire", k=3, explain=True)
    assert anonymous.explanations is not None
    assert not any("ranked higher" in s for s in anonymous.explanations)
    off = engine.search("empire", user="a", k=3, explain=True, personalize=0.0)
    assert off.explanations is not None and not any("ranked higher" in s for s in off.explanations)


# -- the trained model ------------------------------------------------------------------------


def test_model_recommendation_names_the_item_that_drove_it(trained: Engine) -> None:
    trained.ingest(
        [_ev("fan", EventKind.CLICK, "2", 1e9), _ev("fan", EventKind.CLICK, "6", 1e9 + 60)]
    )
    recs = trained.recommend("fan", k=8, explain=True)
    assert isinstance(recs, ExplainedItems) and set(recs.sources) == {"model"}
    for d in recs.details:
        assert d.source == "model" and d.sentence
        up = [c for c in d.contributions if c.drop > 0]
        if up:
            assert up[0].title in d.sentence

    def driver(d: Explanation) -> str:
        return max(d.contributions, key=lambda c: c.drop).item

    scifi = [d for d in recs.details if d.item in SCIFI]
    kids = [d for d in recs.details if d.item in KIDS]
    assert scifi and kids
    assert all(driver(d) == "2" and "Star Wars (1977)" in d.sentence for d in scifi)
    assert all(driver(d) == "6" and "Aladdin (1992)" in d.sentence for d in kids)


def test_model_leave_one_out_matches_a_user_without_the_item(trained: Engine) -> None:
    trained.ingest(
        [_ev("m1", EventKind.CLICK, "2", 5e8), _ev("m1", EventKind.CLICK, "7", 5e8 + 60),
         _ev("m2", EventKind.CLICK, "2", 5e8)]
    )  # fmt: skip
    ex = trained.explain("m1", "3")
    drop = {c.item: c.drop for c in ex.contributions}["7"]
    full = trained.rank("m1", ["3"]).scores[0]
    without = trained.rank("m2", ["3"]).scores[0]
    assert ex.score == pytest.approx(full, abs=1e-4)
    assert drop == pytest.approx(full - without, abs=1e-4)


def test_model_profile_only_user(trained: Engine) -> None:
    recs = trained.recommend("p1", k=2, explain=True)
    assert recs.explanations == ("Picked for your profile: age 30, space battles and aliens",) * 2
    assert all(d.source == "profile" for d in recs.details)  # type: ignore[attr-defined]


def test_model_explain_any_item_has_a_rank(trained: Engine) -> None:
    trained.ingest([_ev("k1", EventKind.CLICK, i, 7e8 + n) for n, i in enumerate(SCIFI)])
    ranks = {}
    for item in ["1", "5", "6", "7", "9", "10"]:
        ex = trained.explain("k1", item)
        assert isinstance(ex, Explanation) and ex.candidates == 6 and ex.sentence
        ranks[item] = ex.rank
    assert sorted(ranks.values()) == [1, 2, 3, 4, 5, 6]
    worst = trained.explain("k1", min(ranks, key=lambda i: -(ranks[i] or 0)))
    assert worst.sentence.startswith("Ranked 6th of 6: ")


# -- HTTP ---------------------------------------------------------------------------------------


def test_http_explain_fields_and_route(engine: Engine) -> None:
    with TestClient(create_app(engine)) as client:
        plain = client.get("/v1/users/a/recommendations", params={"k": 2}).json()
        assert plain["items"][0]["explanation"] is None and plain["items"][0]["why"] is None
        body = client.get("/v1/users/a/recommendations?k=2&explain=true").json()
        first = body["items"][0]
        assert first["explanation"].startswith("Because you liked Star Wars (1977)")
        why = first["why"]
        assert why["source"] == "content" and why["rank"] == 1 and why["candidates"] == 7
        assert why["contributions"][0]["item"] == "2" and why["sentence"] == first["explanation"]
        found = client.get("/v1/search", params={"q": "toy", "explain": "true"}).json()
        assert found["items"][0]["why"]["matched_terms"] == ["toy"]
        assert found["items"][0]["explanation"] == "Matches 'toy' in the title"
        ex = client.get("/v1/users/a/explain/7")
        assert ex.status_code == 200
        got = ex.json()
        assert got["user"] == "a" and got["item"] == "7" and got["rank"] == 6
        assert got["sentence"].startswith("Ranked 6th of 7: ")
        assert got["disliked"] == {"item": "6", "title": "Aladdin (1992)"}
        missing = client.get("/v1/users/a/explain/nope")
        assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_ordinals() -> None:
    got = [_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111, 1234)]
    assert got == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                   "111th", "1,234th"]  # fmt: skip


def test_attributions_are_deterministic(engine: Engine) -> None:
    a = engine.explain("a", "3")
    b = engine.explain("a", "3")
    assert a == b
    assert np.isfinite([c.drop for c in a.contributions]).all()
