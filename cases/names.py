"""Name keys and keyed name tokens: a likely duplicate person is found without revealing a name.

Each part of a name becomes a *key* that spelling variants share; each key becomes an HMAC token
under a key derived from ``BLIND_INDEX_KEY`` (``cases.crypto.name_token_key``). Tokens, not
names, are what gets stored and compared; the birth year is compared in clear beside them.

Keys come in three kinds, and the kind travels as the token's prefix:

``l`` (Latin) keeps the consonants, the class (a / i / u / ai) of the *first* vowel and the class
of the *final* vowel run (a / i / u / ia). Latin spellings disagree about most vowels (Muhammad,
Mohamed; Yusuf, Yousef; Khalid, Khaled) but rarely about the first one or the ending, so this
is as much vowel as survives transliteration. It makes Mohammed, Muhammad, Mohamad meet
(``muhmd``) while Hassan (``hasn``) and Hussein (``husn``), Ali and Alia, Dina and Dana stay
apart. The price: names whose first vowel is written with different letters miss each other
(Yahya / Yehia, Mahdi / Mehdi: ``e`` counts as ``i``), and names that differ only in a middle
vowel or an ʿayn meet (Hamid / Hamed, Said / Sayed).

``a`` (Arabic script) is the normalised Arabic word itself: the script writes long vowels and
leaves short ones out, so its spelling variants are orthographic (hamza, taa marbuta, alef
maqsura, diacritics) and the word is already the key.

``s`` (skeleton) is the consonant skeleton both scripts share: محمد and Mohammed are both
``mhmd``. It is coarse (Hassan and Hussein, Mahmoud and Mohammed share one), so
:func:`name_match_score` uses it only when two names have no script in common.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable, Iterator

from pyarabic import araby

TOKEN_HEX_CHARS = 16
# Two names meet at this score. Dice over part tokens: a three-part name with one part
# different scores 0.67 and misses; one name carrying an extra part (2 of 3) scores 0.8 and meets.
MATCH_THRESHOLD = 0.8

LATIN, ARABIC, SKELETON = "l", "a", "s"
ALLAH = "ALLAH"  # one spelling for the Allah of Abdullah, Abd Allah, عبد الله in every kind

# --- Arabic script -------------------------------------------------------------------------

_ARABIC_LETTER = re.compile(r"[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff]")
_INDIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_ARABIC_PARTICLES = {"بن", "ابن", "بنت", "ال"}
_ARABIC_ARTICLE = "ال"
_ARABIC_ABD = "عبد"
_ARABIC_CONSONANTS = {
    "ب": "b", "ت": "t", "ث": "T", "ج": "j", "ح": "h", "خ": "K", "د": "d", "ذ": "D", "ر": "r",
    "ز": "z", "س": "s", "ش": "S", "ص": "s", "ض": "d", "ط": "t", "ظ": "z", "غ": "G", "ف": "f",
    "ق": "k", "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "پ": "b", "چ": "S", "ڤ": "f",
    "گ": "j", "ک": "k", "ة": "h",
}  # fmt: skip


def normalise_arabic(text: str) -> str:
    """Arabic text with one spelling for what writers vary: diacritics, tatweel, hamza seats,
    alef forms, taa marbuta (ه), alef maqsura (ي), Arabic-Indic digits and spacing."""
    text = unicodedata.normalize("NFKC", text)  # presentation forms and ligatures to letters
    text = araby.normalize_hamza(text, method="tasheel")  # أ إ آ → ا, ؤ → و, ئ → ي
    text = araby.strip_diacritics(text)  # harakat, shadda, dagger alef, Quranic marks
    text = araby.strip_tatweel(text)
    text = text.replace("ٱ", "ا").replace("ة", "ه").replace("ى", "ي").replace("ی", "ي")
    text = text.translate(_INDIC_DIGITS)
    return " ".join(text.split())


def _collapse(symbols: Iterable[str]) -> list[str]:
    out: list[str] = []
    for symbol in symbols:
        if not out or out[-1] != symbol:
            out.append(symbol)
    return out


def _arabic_name(word: str, *, article_taken: bool = False) -> str:
    if word in ("له", "لله", "الله"):
        return ALLAH
    if not article_taken and word.startswith(_ARABIC_ARTICLE) and len(word) > 4:
        word = word[2:]
    return "".join(_collapse(word))


def _arabic_keys(words: list[str]) -> Iterator[str]:
    words = [w for w in words if w]
    i = 0
    while i < len(words):
        word = words[i]
        if word == _ARABIC_ABD and i + 1 < len(words):
            yield f"abd+{_arabic_name(words[i + 1])}"
            i += 2
            continue
        if word.startswith(_ARABIC_ABD + _ARABIC_ARTICLE) and len(word) > 5:
            yield f"abd+{_arabic_name(word[5:], article_taken=True)}"
        elif word not in _ARABIC_PARTICLES:
            yield _arabic_name(word)
        i += 1


def _arabic_skeleton_part(word: str) -> str:
    """Consonants of an Arabic word in the Latin key's alphabet; و and ي count when they are
    consonants (first letter; و beside an alef), as the Latin key counts w and y."""
    out: list[str] = []
    for i, letter in enumerate(word):
        before = word[i - 1] if i else ""
        after = word[i + 1] if i + 1 < len(word) else ""
        if letter == "و" and (i == 0 or "ا" in (before, after)):
            out.append("w")
        elif letter == "ي" and i == 0:
            out.append("y")
        elif letter == "ه" and not after and len(word) > 2 and before != "ا":
            continue  # most often a taa marbuta (Fatima, Rania); Wajih's real ه is lost
        else:
            out.append(_ARABIC_CONSONANTS.get(letter, ""))
    return "".join(_collapse(c for c in out if c))


# --- Latin script --------------------------------------------------------------------------

_LATIN_PARTICLES = {"bin", "ibn", "bint", "ben", "bn", "binti", "ibnu"}
_LATIN_ARTICLES = {
    "al", "el", "ul", "il", "ol", "ar", "ur", "er", "as", "us", "es", "ash", "ush", "ad", "ud",
    "ed", "at", "ut", "az", "uz", "an", "un", "en", "adh", "ath", "a", "e", "u",
}  # fmt: skip
# Words that open with al/el without it being the article.
_NOT_ARTICLE = {"elham", "alham", "alwan", "alhan"}
_APOSTROPHES = re.compile(r"['’‘`ʿʾʼ]")
_VOWELS = set("aeiou")
_DIGRAPHS = {"kh": "K", "sh": "S", "th": "T", "dh": "D", "gh": "G"}
_SPELLING = [  # one letter for what different transliteration traditions write differently
    ("dj", "j"), ("tch", "S"), ("ch", "S"), ("ph", "f"), ("ck", "k"), ("q", "k"), ("c", "k"),
    ("x", "ks"), ("v", "f"), ("p", "b"), ("ou", "u"), ("oo", "u"), ("ee", "i"),
]  # fmt: skip
_G_NOT_GH = re.compile(r"g(?!h)")
# The article inside an Abd name: Abd-ul-, Abd-el-, and assimilated before a sun letter (Abd-ur-
# Rahman). Written into one word it is always there; as a word of its own (Abd Arrahman) only a
# doubled sun letter shows it, so Abd Aziz keeps its a.
_ARTICLE_IN_ABD = re.compile(r"^[aeiou]+l(?=[a-z]{2})|^[aeiou](?=sh|th|dh|[rstdzn])")
_ARTICLE_BEFORE_ABD_NAME = re.compile(r"^[aeiou]+l(?=[a-z]{2})|^[aeiou](?=([rstdzn])\1)")


def normalise_latin(text: str) -> str:
    """Lowercase ASCII letters and single spaces: accents and ʿayn/hamza marks dropped."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = _APOSTROPHES.sub("", text)
    return " ".join(re.sub(r"[^a-z]+", " ", text).split())


def _symbols(word: str) -> list[str]:
    """A Latin word as sounds: digraphs as one capital, doubled consonants collapsed."""
    for written, sound in _SPELLING:
        word = word.replace(written, sound)
    word = _G_NOT_GH.sub("j", word)
    for digraph, sound in _DIGRAPHS.items():
        word = word.replace(digraph, sound)
    return _collapse(word)


def _vowel_runs(symbols: list[str]) -> list[str | list[str]]:
    """Consonants as strings, vowel runs as lists; a ``y`` after the first letter is a vowel."""
    out: list[str | list[str]] = []
    for i, symbol in enumerate(symbols):
        if symbol in _VOWELS or (symbol == "y" and i > 0):
            if out and isinstance(out[-1], list):
                out[-1].append(symbol)
            else:
                out.append([symbol])
        else:
            out.append(symbol)
    return out


def _first_vowel_class(run: list[str]) -> str:
    head, rest = run[0], run[1:]
    if head in "ou":
        return "u"
    if head in "ae" and any(v in "iye" for v in rest):
        return "ai"  # Zainab, Zeinab, Zaynab; Saeed, Sayed
    return "a" if head == "a" else "i"


def _final_vowel_class(run: list[str]) -> str:
    last = run[-1]
    if last == "a":
        return "ia" if any(v in "iye" for v in run[:-1]) else "a"
    return "u" if last in "ou" else "i"


def _trim_ending(symbols: list[str]) -> list[str]:
    """A written-out taa marbuta (-ah, -eh) ends in ``a``; a French mute ``e`` is dropped."""
    if len(symbols) > 2 and symbols[-1] == "h" and symbols[-2] in "ae":
        return [*symbols[:-2], "a"]
    if len(symbols) > 2 and symbols[-1] == "e" and symbols[-2] not in _VOWELS:
        return symbols[:-1]
    return symbols


def latin_key(word: str) -> str:
    """The key of one Latin name word (already :func:`normalise_latin`-ed, no spaces)."""
    runs = _vowel_runs(_trim_ending(_symbols(word)))
    vowel_runs = [i for i, r in enumerate(runs) if isinstance(r, list)]
    first = vowel_runs[0] if vowel_runs else -1
    final = len(runs) - 1 if vowel_runs and vowel_runs[-1] == len(runs) - 1 else -1
    out = []
    for i, run in enumerate(runs):
        if isinstance(run, str):
            out.append(run)
        elif i == final:
            out.append(_final_vowel_class(run))
        elif i == first:
            out.append(_first_vowel_class(run))
    return "".join(out)


def _consonant_count(word: str) -> int:
    return sum(1 for r in _vowel_runs(_symbols(word)) if isinstance(r, str))


def _drop_article(word: str) -> str:
    """``alhassan`` → ``hassan``, but ``ali``, ``alia``, ``elias`` stay whole."""
    if word[:2] in ("al", "el") and word not in _NOT_ARTICLE:
        rest = word[2:]
        if rest and rest[0] not in _VOWELS and _consonant_count(rest) >= 2:
            return rest
    return word


def _abd_name(word: str, *, article_taken: bool) -> str:
    rest = word
    if not article_taken and len(_ARTICLE_BEFORE_ABD_NAME.sub("", word)) >= 3:
        rest = _ARTICLE_BEFORE_ABD_NAME.sub("", word)
    if re.fullmatch(r"l+ah?", rest):
        return ALLAH
    return latin_key(rest)


def _latin_keys(words: list[str]) -> Iterator[str]:
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in _LATIN_PARTICLES or word in _LATIN_ARTICLES:
            continue
        if not word.startswith("abd"):
            yield latin_key(_drop_article(word))
            continue
        rest = word[3:]
        article_taken = rest in _LATIN_ARTICLES
        if rest and not article_taken:  # Abdulrahman, Abdurrahman, Abdallah
            stripped = _ARTICLE_IN_ABD.sub("", rest)
            yield f"abd+{_abd_name(stripped or rest, article_taken=stripped != rest)}"
            continue
        if i < len(words) and words[i] in _LATIN_ARTICLES:  # Abd al-Rahman, Abd ur Rahman
            article_taken = True
            i += 1
        if i < len(words):
            yield f"abd+{_abd_name(words[i], article_taken=article_taken)}"
            i += 1
        else:
            yield "abd"


def _latin_skeleton_part(key: str) -> str:
    if key == ALLAH:
        return key
    return "".join(_collapse(c for c in key if c not in "aiu"))


# --- Parts, tokens, score ------------------------------------------------------------------


def _is_arabic(word: str) -> bool:
    return bool(_ARABIC_LETTER.search(word))


def _script_runs(full_name: str) -> Iterator[tuple[str, list[str]]]:
    """Consecutive words of one script, as (kind, normalised words)."""
    kind = ""
    run: list[str] = []
    for raw in full_name.replace("-", " ").replace("_", " ").split():
        word_kind = ARABIC if _is_arabic(raw) else LATIN
        normalise = normalise_arabic if word_kind == ARABIC else normalise_latin
        words = normalise(raw).split()
        if word_kind != kind and run:
            yield kind, run
            run = []
        kind = word_kind
        run.extend(words)
    if run:
        yield kind, run


def _keys(full_name: str) -> Iterator[tuple[str, str]]:
    for kind, words in _script_runs(full_name):
        keys = _arabic_keys(words) if kind == ARABIC else _latin_keys(words)
        yield from ((kind, key) for key in keys if key)


def name_parts(full_name: str) -> list[str]:
    """The key of each part of a name, in its script's key space; ``abd`` compounds are one
    part (``abd+rahmn``), bin/ibn/bint and al-/el- articles are dropped. Order carries no
    meaning: compare the parts as a set."""
    return [key for _, key in _keys(full_name)]


def skeleton(kind: str, key: str) -> str:
    """The cross-script consonant skeleton of a part key of the given kind."""
    if key.startswith("abd+"):
        return "bd+" + skeleton(kind, key[4:])
    if kind == ARABIC:
        return ALLAH if key == ALLAH else _arabic_skeleton_part(key)
    return _latin_skeleton_part(key)


def _token(key: bytes, kind: str, part: str) -> str:
    digest = hmac.new(key, f"name-part:{kind}:{part}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest[:TOKEN_HEX_CHARS]}"


def name_tokens(full_name: str, key: bytes) -> set[str]:
    """Keyed tokens of a name's parts: ``<kind>:<hex>``, one per part in its own script's key
    space and one per part skeleton. ``key`` is ``cases.crypto.name_token_key()``."""
    tokens: set[str] = set()
    for kind, part in _keys(full_name):
        tokens.add(_token(key, kind, part))
        part_skeleton = skeleton(kind, part)
        if part_skeleton.replace("bd+", ""):
            tokens.add(_token(key, SKELETON, part_skeleton))
    return tokens


def _dice(a: set[str], b: set[str]) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a and b else 0.0


def name_match_score(tokens_a: Iterable[str], tokens_b: Iterable[str]) -> float:
    """Dice similarity (0..1) of two names' part tokens: over the script both were written in
    when they share one (the finer keys), over skeletons only when they share none."""
    by_kind: list[dict[str, set[str]]] = [{}, {}]
    for side, tokens in zip(by_kind, (tokens_a, tokens_b), strict=True):
        for token in tokens:
            side.setdefault(token.partition(":")[0], set()).add(token)
    shared = {LATIN, ARABIC} & by_kind[0].keys() & by_kind[1].keys()
    if shared:
        return max(_dice(by_kind[0][kind], by_kind[1][kind]) for kind in shared)
    return _dice(by_kind[0].get(SKELETON, set()), by_kind[1].get(SKELETON, set()))
