"""Why an item is recommended or found, in words a shop owner understands.

Attribution is **leave-one-out on the user's own history**: the user vector is
recomputed without each of the most recent distinct history items (all of them
in one batched call to the user tower, or to the content profile before a model
is trained) and an item's contribution is how much *its* score drops. Unlike
"nearest history item" heuristics this measures the scorer itself, so the
history items named in a sentence are the ones that actually moved the score
(the acceptance test checks this on MovieLens-100K).

Everything here is pure over a snapshot the engine hands in (:class:`UserView`
plus the catalog, text index and popularity); nothing runs unless a caller
asks for explanations, so ``explain=False`` costs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from lmrec.engine.catalog import Catalog
from lmrec.engine.popularity import Popularity
from lmrec.engine.profile import event_weight, profile_vector
from lmrec.engine.search import ParsedQuery
from lmrec.engine.serving import NEGATIVE_KINDS, ModelServing
from lmrec.index import VectorIndex
from lmrec.index.lexical import title_keys
from lmrec.schema import Event, EventKind, ScoredItems
from lmrec.settings import Settings
from lmrec.text.tokenize import tokenize

Vector = npt.NDArray[np.float32]

# The engine's result sources (mirrors ``lmrec.engine.engine``; kept literal to avoid a cycle).
SOURCE_MODEL = "model"
SOURCE_CONTENT = "content"
SOURCE_POPULAR = "popular"
SOURCE_SEARCH = "search"
#: The trained user tower read the profile text alone (no usable history yet).
SOURCE_PROFILE = "profile"

#: Most recent distinct history items tested by leave-one-out (one batched call).
ATTRIBUTED_ITEMS = 30
#: History items named in a sentence.
NAMED_ITEMS = 2
#: A second history item is named only when its drop is at least this share of the first's.
NAMED_SHARE = 0.3
#: Contributions kept in the structured explanation.
KEPT_CONTRIBUTIONS = 5
#: Ranks up to this (and in the better half of the candidates) are explained by what
#: drove them; lower ranks by why they are low.
TOP_RANK = 20
#: A disliked item is named as the reason for a low rank when the explained item is
#: closer in text to it than to anything the user liked, and at least this close.
SIMILAR_COSINE = 0.2
#: A category is "dominant" when at least this many of the top contributors share it.
CATEGORY_SUPPORT = 2

#: Field of the lexical index -> how a sentence names it, in the order they are reported.
_FIELD_NAMES = {"title": "the title", "categories": "the categories", "text": "the description"}


@dataclass(frozen=True, slots=True)
class Contribution:
    """How much one history item moved an item's score.

    Attributes:
        item: The history item's id.
        title: Its title.
        drop: The explained item's score with this history item minus its score
            without it (all its events left out); positive means it pushed the item up.
        kind: The kind of the user's latest event on it (``rate``, ``purchase``...).
        value: That event's value (the rating), if any.
    """

    item: str
    title: str
    drop: float
    kind: str
    value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "title": self.title, "drop": self.drop, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one item scores and ranks where it does for one user (or query).

    Attributes:
        item: The explained item.
        title: Its title.
        score: Its score (the result's score, or the raw personal score for :meth:`Engine.explain`).
        rank: 1-based rank among all candidates for the user (consumed items
            excluded), by the personal score before negative-feedback reranking,
            or by popularity on the popular path; the result position for search;
            None when the user already consumed the item.
        candidates: How many candidates that rank is out of.
        source: ``model``, ``content``, ``profile``, ``popular`` or ``search``.
        contributions: History items that moved the personal score most, by drop.
        matched_terms: Query terms (after typo correction) found in the item.
        matched_fields: Fields they were found in (``title``, ``categories``, ``text``).
        category: A category the item shares with most of its top contributors.
        closest: ``(id, title)`` of the history item most similar in text.
        disliked: ``(id, title)`` of a similar item the user disliked or skipped.
        sentence: The one-sentence reason shown to people.
    """

    item: str
    title: str
    score: float
    rank: int | None
    candidates: int
    source: str
    contributions: tuple[Contribution, ...] = ()
    matched_terms: tuple[str, ...] = ()
    matched_fields: tuple[str, ...] = ()
    category: str | None = None
    closest: tuple[str, str] | None = None
    disliked: tuple[str, str] | None = None
    sentence: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the API's ``why``)."""
        return {
            "item": self.item,
            "score": self.score,
            "rank": self.rank,
            "candidates": self.candidates,
            "source": self.source,
            "contributions": [c.as_dict() for c in self.contributions],
            "matched_terms": list(self.matched_terms),
            "matched_fields": list(self.matched_fields),
            "category": self.category,
            "closest": None if self.closest is None else _ref(self.closest),
            "disliked": None if self.disliked is None else _ref(self.disliked),
            "sentence": self.sentence,
        }


def _ref(pair: tuple[str, str]) -> dict[str, str]:
    return {"item": pair[0], "title": pair[1]}


@dataclass(frozen=True, slots=True)
class ExplainedItems(ScoredItems):
    """Results with an :class:`Explanation` per row; ``explanations`` holds the sentences."""

    details: tuple[Explanation, ...] = ()

    def __post_init__(self) -> None:
        ScoredItems.__post_init__(self)
        if len(self.details) != len(self.ids):
            raise ValueError("ExplainedItems.details must match ids in length")

    @classmethod
    def build(cls, scored: ScoredItems, details: Sequence[Explanation]) -> ExplainedItems:
        return cls(
            scored.ids,
            scored.scores,
            scored.titles,
            scored.sources,
            tuple(d.sentence for d in details),
            tuple(details),
        )


# -- the user, as scored ---------------------------------------------------------------

#: User vectors of edited histories: row 0 the full history, row j+1 without item ``removed[j]``.
Variants = Callable[[Sequence[str]], Vector]


@dataclass(frozen=True)
class UserView:
    """One user as the engine scores them now, and how to re-score edited histories.

    Attributes:
        user: The user id.
        source: ``model``, ``profile``, ``content`` or ``popular`` (nothing known).
        index: The vector index scores live in (None on the popular path).
        vector: The user's vector in that space (None on the popular path).
        events: Recent events, oldest first (what the vector was computed from).
        attributable: Distinct history items leave-one-out tests, most recent first.
        variants: Batched user vectors without each attributable item.
        profile_text: The user's profile text (``age 30, technician``), if any.
    """

    user: str
    source: str
    index: VectorIndex | None
    vector: Vector | None
    events: tuple[Event, ...]
    attributable: tuple[str, ...]
    variants: Variants
    profile_text: str = ""


def _no_variants(removed: Sequence[str]) -> Vector:
    return np.zeros((len(removed) + 1, 0), dtype=np.float32)


def popular_view(user: str, events: Sequence[Event] = ()) -> UserView:
    """A user with nothing to personalize on: results come from popularity."""
    return UserView(user, SOURCE_POPULAR, None, None, tuple(events), (), _no_variants)


def _recent_items(
    events: Sequence[Event], keep: Callable[[Event], bool], n: int
) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for e in reversed(events):
        if e.item is not None and e.kind is not EventKind.SEARCH and keep(e):
            out.setdefault(e.item, None)
            if len(out) == n:
                break
    return tuple(out)


def content_view(
    user: str,
    events: Sequence[Event],
    index: VectorIndex,
    event_vector: Callable[[Event], Vector | None],
    settings: Settings,
    *,
    attributed: int = ATTRIBUTED_ITEMS,
) -> UserView:
    """The content-path user: leave-one-out recomputes the content profile.

    Every item event counts (dislikes and low ratings too: on this path they pull
    the profile away, so their drop is negative).
    """
    vec = profile_vector(events, event_vector, settings)
    if vec is None:
        return popular_view(user, events)

    def variants(removed: Sequence[str]) -> Vector:
        out = np.zeros((len(removed) + 1, vec.shape[0]), dtype=np.float32)
        out[0] = vec
        for j, r in enumerate(removed):
            v = profile_vector([e for e in events if e.item != r], event_vector, settings)
            if v is not None:
                out[j + 1] = v
        return out

    items = _recent_items(events, lambda e: True, attributed)
    return UserView(user, SOURCE_CONTENT, index, vec, tuple(events), items, variants)


def model_view(
    user: str,
    events: Sequence[Event],
    serving: ModelServing,
    event_vector: Callable[[Event], Vector | None],
    profile: Vector | None,
    *,
    profile_text: str = "",
    attributed: int = ATTRIBUTED_ITEMS,
) -> UserView:
    """The trained-model user: leave-one-out runs the user tower on edited histories.

    All edited histories go through one batched ``user_vectors`` call together
    with the full one, so padding and batching affect every row alike.
    """
    history = serving.history(events, event_vector)
    pos = serving.user_pos.get(user, -1)
    if len(history) == 0 and pos < 0 and profile is None:
        return popular_view(user, events)
    source = SOURCE_PROFILE if len(history) == 0 else SOURCE_MODEL

    def variants(removed: Sequence[str]) -> Vector:
        hists = [history] + [
            serving.history([e for e in events if e.item != r], event_vector) for r in removed
        ]
        profiles = None
        if profile is not None and pos < 0:
            profiles = np.repeat(np.asarray(profile, dtype=np.float32)[None, :], len(hists), 0)
        return serving.model.user_vectors(
            np.full(len(hists), pos, dtype=np.int64),
            [h.items for h in hists],
            gaps=[h.gaps for h in hists],
            values=[h.values for h in hists],
            profiles=profiles,
            history_text=[h.text for h in hists],
        )

    items = _recent_items(events, lambda e: e.kind not in NEGATIVE_KINDS, attributed)
    vec = variants(())[0]
    return UserView(user, source, serving.index, vec, tuple(events), items, variants, profile_text)


# -- explaining ---------------------------------------------------------------------------


@dataclass
class Explainer:
    """Explains items for one :class:`UserView` against the catalog as it is now.

    Args:
        view: The user (or :func:`popular_view` for anonymous requests).
        catalog: Titles and categories.
        text_index: Language-model vectors of active items (for "similar" and "closest").
        popularity: Event counts (the popular path).
        consumed: Items the user already had (excluded from ranks).
        settings: Rating midpoint (what a "liked" rating is).
    """

    view: UserView
    catalog: Catalog
    text_index: VectorIndex
    popularity: Popularity
    consumed: Collection[str]
    settings: Settings
    _loo: Vector | None = field(default=None, repr=False)
    _ranking: tuple[dict[str, int], int] | None = field(default=None, repr=False)

    # -- numbers ---------------------------------------------------------------------
    def attributions(self, ids: Sequence[str]) -> dict[str, tuple[Contribution, ...]]:
        """Leave-one-out contributions for several items from one batched variants call."""
        view = self.view
        if view.vector is None or not view.attributable or not ids:
            return {i: () for i in ids}
        out: dict[str, tuple[Contribution, ...]] = {i: () for i in ids}
        index = view.index
        vecs = {i: v for i in ids if index is not None and (v := index.get(i)) is not None}
        ids = list(vecs)
        if not ids:
            return out
        if self._loo is None:
            self._loo = view.variants(view.attributable)
        mat = np.stack([vecs[i] for i in ids]).astype(np.float64)
        scores = self._loo.astype(np.float64) @ mat.T  # (N+1, k)
        drops = scores[0][None, :] - scores[1:]  # (N, k): positive = the item pushed it up
        latest = self._latest_events()
        for col, item in enumerate(ids):
            order = np.argsort(-np.abs(drops[:, col]), kind="stable")[: KEPT_CONTRIBUTIONS + 1]
            kept = [
                self._contribution(view.attributable[j], float(drops[j, col]), latest)
                for j in order
                if abs(drops[j, col]) > 0.0 and view.attributable[j] != item
            ]
            out[item] = tuple(kept[:KEPT_CONTRIBUTIONS])
        return out

    def _latest_events(self) -> dict[str, Event]:
        return {e.item: e for e in self.view.events if e.item is not None}

    def _contribution(self, item: str, drop: float, latest: dict[str, Event]) -> Contribution:
        e = latest.get(item)
        kind = e.kind.value if e is not None else "view"
        value = e.value if e is not None else None
        return Contribution(item, self.catalog.title(item), drop, kind, value)

    def _ranks(self) -> tuple[dict[str, int], int]:
        """Rank of every candidate (1-based) and the candidate count, computed once."""
        if self._ranking is not None:
            return self._ranking
        view = self.view
        index = view.index if view.index is not None else self.text_index
        ids = [i for i in self.catalog.ids() if i in index and i not in self.consumed]
        if view.vector is not None and view.index is not None:
            scores = np.asarray(view.index.scores(view.vector, ids), dtype=np.float64)
        else:
            scores = np.array([self.popularity.count(i) for i in ids], dtype=np.float64)
        # rank = 1 + number of strictly better candidates (ties share the better rank)
        order = np.argsort(-scores, kind="stable")
        sorted_scores = scores[order]
        ranks = np.searchsorted(-sorted_scores, -scores, side="left") + 1
        self._ranking = ({i: int(r) for i, r in zip(ids, ranks, strict=True)}, len(ids))
        return self._ranking

    def personal_score(self, item: str) -> float:
        view = self.view
        if view.vector is None or view.index is None:
            return self.popularity.count(item)
        return float(view.index.scores(view.vector, [item])[0])

    # -- history-based reasons ----------------------------------------------------
    def _dominant_category(self, item: str, contributions: Sequence[Contribution]) -> str | None:
        it = self.catalog.get(item)
        if it is None or not it.categories:
            return None
        counts: Counter[str] = Counter()
        for c in contributions:
            other = self.catalog.get(c.item)
            if other is not None:
                counts.update(set(it.categories) & set(other.categories))
        best = max(counts.values(), default=0)
        if best < CATEGORY_SUPPORT:
            return None
        tied = [c for c in it.categories if counts[c] == best]
        # the rarest tied category says the most ("Sci-Fi" over "Action")
        return min(tied, key=lambda c: (len(self.catalog.in_categories([c])), tied.index(c)))

    def _text_similar(self, item: str, candidates: Sequence[str]) -> tuple[str, float] | None:
        target = self.text_index.get(item)
        if target is None:
            return None
        ids = [c for c in dict.fromkeys(candidates) if c != item and c in self.text_index]
        if not ids:
            return None
        sims = np.asarray(self.text_index.scores(target, ids), dtype=np.float64)
        j = int(np.argmax(sims))
        return ids[j], float(sims[j])

    def _disliked(self) -> list[str]:
        mid = self.settings.rating_midpoint
        return [
            e.item
            for e in self.view.events
            if e.item is not None
            and (
                e.kind in NEGATIVE_KINDS
                or (e.kind is EventKind.RATE and e.value is not None and e.value < mid)
            )
        ]

    def _liked(self) -> list[str]:
        return [
            e.item
            for e in self.view.events
            if e.item is not None
            and e.kind is not EventKind.SEARCH
            and event_weight(e, self.settings) > 0
        ]

    def _because(self, item: str, contributions: Sequence[Contribution]) -> tuple[str, str | None]:
        """``"you liked A and B and like Sci-Fi"`` and the category used, or ``("", None)``."""
        support = [c for c in contributions if c.drop > 0]
        if not support:
            return "", None
        up = [c for c in support if c.drop >= NAMED_SHARE * support[0].drop][:NAMED_ITEMS]
        category = self._dominant_category(item, support)
        groups: dict[str, list[str]] = {}
        for c in up:
            groups.setdefault(self._verb(c.kind, c.value), []).append(c.title)
        clauses = [_template(verb).format(_and(titles)) for verb, titles in groups.items()]
        text = "you " + _and(clauses, sep=", ")
        if category:
            text += (", and like " if len(clauses) > 1 else " and like ") + category
        return text, category

    def _verb(self, kind: str, value: float | None) -> str:
        if kind == EventKind.RATE.value:
            return (
                "liked" if value is not None and value > self.settings.rating_midpoint else "rated"
            )
        return _VERBS.get(kind, "chose")

    def _usual_verb(self) -> str:
        kinds = Counter(
            e.kind.value
            for e in self.view.events
            if e.item is not None
            and e.kind not in NEGATIVE_KINDS
            and e.kind is not EventKind.SEARCH
        )
        if not kinds:
            return "chose"
        kind = kinds.most_common(1)[0][0]
        return "rated" if kind == EventKind.RATE.value else _VERBS.get(kind, "chose")

    # -- the three shapes -------------------------------------------------------------
    def _head(self, item: str, score: float, source: str) -> dict[str, Any]:
        ranks, total = self._ranks()
        return {
            "item": item,
            "title": self.catalog.title(item),
            "score": score,
            "rank": ranks.get(item),
            "candidates": total,
            "source": source,
        }

    def recommendation(
        self, item: str, score: float, source: str, contributions: Sequence[Contribution]
    ) -> Explanation:
        """A result of ``recommend`` (or an item ``explain`` finds near the top)."""
        if source == SOURCE_POPULAR or self.view.vector is None:
            popular = self.popularity.count(item) > 0
            return Explanation(
                **self._head(item, score, SOURCE_POPULAR),
                sentence="Popular with other users right now"
                if popular
                else "New here: no one has chosen it yet",
            )
        source = self.view.source if source != SOURCE_CONTENT else SOURCE_CONTENT
        because, category = self._because(item, contributions)
        if because:
            sentence = "Because " + because
        elif source == SOURCE_PROFILE and self.view.profile_text:
            sentence = f"Picked for your profile: {self.view.profile_text}"
        else:
            sentence = "Close to your overall taste"
        return Explanation(
            **self._head(item, score, source),
            contributions=tuple(contributions),
            category=category,
            sentence=sentence,
        )

    def low(self, item: str, score: float, contributions: Sequence[Contribution]) -> Explanation:
        """An item that ranks low (or was never shown): why it is not near the top."""
        head = self._head(item, score, self.view.source)
        lead = f"Ranked {_ordinal(head['rank'] or 0)} of {head['candidates']:,}"
        if self.view.vector is None:
            count = int(self.popularity.count(item))
            chosen = f"only {count:,} other users chose it" if count else "no one has chosen it yet"
            return Explanation(
                **head,
                sentence=f"{lead} by popularity: we do not know your taste yet, and {chosen}",
            )
        disliked = self._text_similar(item, self._disliked())
        closest = self._text_similar(item, self._liked())
        bad = None
        if disliked is not None and disliked[1] >= max(
            SIMILAR_COSINE, -1.0 if closest is None else closest[1]
        ):
            bad = (disliked[0], self.catalog.title(disliked[0]))
        near = None if closest is None else (closest[0], self.catalog.title(closest[0]))
        if bad is not None:
            reason = f"you disliked a similar item, {bad[1]}"
        elif near is not None:
            reason = (
                f"it is far from what you {self._usual_verb()} recently (your closest: {near[1]})"
            )
        else:
            reason = "it is far from your overall taste"
        return Explanation(
            **head,
            contributions=tuple(contributions),
            closest=near,
            disliked=bad,
            sentence=f"{lead}: {reason}",
        )

    def explain(self, item: str) -> Explanation:
        """Why ``item`` ranks where it does for this user (any active item)."""
        score = self.personal_score(item)
        if item in self.consumed:
            e = self._latest_events().get(item)
            verb = self._verb(e.kind.value, e.value) if e is not None else "chose"
            return Explanation(
                **self._head(item, score, self.view.source),
                sentence=f"Not recommended to you: you already {verb} it",
            )
        contributions = self.attributions([item])[item]
        ranks, total = self._ranks()
        rank = ranks.get(item)
        top = rank is not None and rank <= min(TOP_RANK, max(1, total // 2))
        if top and (self.view.vector is not None or self.popularity.count(item) > 0):
            return self.recommendation(item, score, self.view.source, contributions)
        return self.low(item, score, contributions)

    def results(self, scored: ScoredItems) -> ExplainedItems:
        """Explanations for the rows of a ``recommend`` (or ``rank``) answer."""
        personal = [
            i for i, s in zip(scored.ids, scored.sources, strict=True) if s != SOURCE_POPULAR
        ]
        attr = self.attributions(personal)
        details = [self.recommendation(r.id, r.score, r.source, attr.get(r.id, ())) for r in scored]
        return ExplainedItems.build(scored, details)

    def search_results(
        self,
        scored: ScoredItems,
        query: str,
        parsed: ParsedQuery,
        *,
        offset: int = 0,
        votes: Mapping[str, float] | None = None,
    ) -> ExplainedItems:
        """Explanations for a ``search`` answer: matched terms, the votes, then the personal part.

        ``rank`` is the result's position (offset included) and ``candidates`` the
        number of results up to this page: search has no full candidate ranking.
        ``votes`` counts the users who chose each item after this query
        (:mod:`lmrec.engine.searchclicks`).
        """
        attr = self.attributions(list(scored.ids)) if self.view.vector is not None else {}
        details = []
        for n, r in enumerate(scored):
            it = self.catalog.get(r.id)
            fields = {}
            if it is not None:
                fields = {"title": it.title, "categories": " ".join(it.categories), "text": it.text}
            matched, exact = match_terms(parsed, fields)
            sentence = search_sentence(query, parsed, matched, exact)
            chose = int((votes or {}).get(r.id, 0))
            if chose:
                who = "1 user" if chose == 1 else f"{chose} users"
                sentence += f"; {who} chose it after this search"
            contributions = attr.get(r.id, ())
            because, category = self._because(r.id, contributions)
            if because:
                sentence += "; ranked higher because " + because
            details.append(
                Explanation(
                    item=r.id,
                    title=r.title,
                    score=r.score,
                    rank=offset + n + 1,
                    candidates=offset + len(scored),
                    source=SOURCE_SEARCH,
                    contributions=tuple(contributions),
                    matched_terms=tuple(matched),
                    matched_fields=tuple(dict.fromkeys(matched.values())),
                    category=category,
                    sentence=sentence,
                )
            )
        return ExplainedItems.build(scored, details)


# -- search ------------------------------------------------------------------------------


def match_terms(parsed: ParsedQuery, fields: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Query terms found in an item (term -> field, query order), and the query reading
    that is the item's exact title (typos corrected), if one is.

    A term counts in the first field (title, categories, description) that holds it.
    Typo expansions count too: they are the terms the lexical index actually matched.
    """
    wanted = [t for t, w in parsed.weights.items() if w > 0]
    where: dict[str, str] = {}
    for name in _FIELD_NAMES:
        toks = set(tokenize(fields.get(name, "")))
        for t in wanted:
            if t in toks and t not in where:
                where[t] = name
    keys = title_keys(fields.get("title", ""))
    exact = next((" ".join(r) for r in parsed.readings if r and tuple(sorted(r)) in keys), None)
    return {t: where[t] for t in wanted if t in where}, exact


def search_sentence(
    query: str, parsed: ParsedQuery, matched: dict[str, str], exact: str | None
) -> str:
    """``Matches 'toy' and 'story' in the title`` and its variants."""
    if exact is not None:
        return f"Its title matches '{exact}' exactly"
    if not matched:
        return f"Close in meaning to '{query.strip()}'"
    typed = {v: k for k, v in parsed.corrections.items()}
    parts = []
    for name, label in _FIELD_NAMES.items():
        shown = [
            f"'{t}'" + (f" (for '{typed[t]}')" if t in typed else "")
            for t, f in matched.items()
            if f == name
        ]
        if shown:
            parts.append(f"{_and(shown)} in {label}")
    return "Matches " + _and(parts)


# -- words -------------------------------------------------------------------------------

_VERBS = {
    "view": "viewed",
    "click": "clicked on",
    "cart": "put in your cart",
    "purchase": "bought",
    "like": "liked",
}


def _template(verb: str) -> str:
    if verb == "put in your cart":
        return "put {} in your cart"
    return verb + " {}"


def _and(parts: Sequence[str], sep: str = ", ") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return sep.join(parts[:-1]) + " and " + parts[-1]


def _ordinal(n: int) -> str:
    """``1st``, ``22nd``, ``1,234th``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"
