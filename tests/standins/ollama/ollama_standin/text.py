"""Text helpers shared by the embedding and the deterministic LLM: words, stopwords, sentences."""

from __future__ import annotations

import re


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


WORD_RE = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+|\n+")
STOPWORDS = _wordset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each
    few for from further had has have having he her here hers herself him himself his how
    i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves tell know many much one two per via whose
    within without yes every among since upon onto toward towards whether either neither
    another others already always never often still yet even ever"""
)
QUESTION_STARTS = frozenset({"what", "which", "who", "whom", "where", "when", "why", "how"})
CONNECTORS = frozenset({"of", "de", "la", "von", "van", "der", "del", "da"})
ORG_WORDS = _wordset(
    """inc corp corporation company co ltd llc gmbh university institute agency foundation
    lab labs laboratory association society council ministry department bank group"""
)
PERSON_TITLES = _wordset("mr mrs ms miss dr doctor prof professor sir dame lord lady president")
LOC_WORDS = _wordset(
    """city river mountain mountains lake island islands valley sea ocean bay county
    province state kingdom republic street road harbor harbour desert forest"""
)


def normalise(token: str) -> str:
    """Lower-case a word, drop possessives and a plural ``s`` (a tiny, stable stemmer)."""
    t = token.lower().replace("\u2019", "'")
    if t.endswith("'s"):
        t = t[:-2]
    if len(t) > 4 and t.endswith("ies"):
        t = t[:-3] + "y"
    elif len(t) > 3 and t.endswith("s") and not t.endswith(("ss", "us", "is")):
        t = t[:-1]
    return t


def words(text: str) -> list[str]:
    return WORD_RE.findall(text)


def content_tokens(text: str) -> list[str]:
    """Normalised words without stop words (all words if nothing else is left)."""
    lowered = [w.lower() for w in words(text)]
    kept = [normalise(w) for w in lowered if w not in STOPWORDS]
    return kept or [normalise(w) for w in lowered]


def sentences(text: str) -> list[str]:
    out = []
    for part in SENTENCE_RE.split(text):
        part = " ".join(part.split())
        if len(words(part)) >= 2:
            out.append(part)
    return out


def count_words(*texts: str) -> int:
    """Whitespace-separated words: the stand-in's unit of "tokens"."""
    return sum(len(t.split()) for t in texts)
