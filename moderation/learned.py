"""The learned second signal: a compact linear model per concern over hashed word and
character n-grams of the canonical text, OR-ed with the phrase lists by the stages.

The lists catch what they contain and nothing else; on wording nobody wrote a phrase for,
they miss about half of what matters (docs/moderation.md, "Evidence"). The model reads
the same canonical view the lists match (`Scan`: look-alikes, accents, leetspeak and
invisible characters folded), split into words, and adds up one weight per feature:

- each word, and each pair of neighbouring words;
- each run of 4 and 5 characters of a word written with a space on either side
  (" gabbies " gives " gab", "gabb", ..., "ies ", " gabb", ...), which carries
  misspellings, masked letters ("s*icide") and words it never saw whole. (Runs of 4 and
  5 generalised best to a writer the model never saw: 3-5, 3-4, 2-5, 4-6 and 5-7 were
  compared by training without one writer's batch and scoring it.)

Features are hashed (CRC-32) into 2**bits buckets, so unseen words need no vocabulary.
Each concern (crisis, abuse, medication sale, "take this elsewhere") has its own weights,
stored as int8 with one scale per concern; a score is the logistic of
`bias + sum(weights) / sqrt(number of features)`, and the decision threshold per concern
was picked by `python -m moderation.train` on held-out writers of the training data.

Inference is plain Python. A word's own features (the word and its character runs) are
the same wherever it appears, and so are a pair's, so their summed weights are remembered
per pair of neighbouring words (bounded): a message costs a split and one look-up per word.
"""

import itertools
import json
import math
import re
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import chain, repeat
from typing import NamedTuple, cast

from moderation.context import MessageContext
from moderation.corpus import CONCERNS
from moderation.scanning import Scanner

MODEL_FILE = "learned-model.bin"
FORMAT = "huddle-linear-ngram/3"
CHAR_SIZES = (4, 5)
# Each word and each pair of words counts this many times beside the word's character
# runs (format /1 counted them once): with ~10 runs per word, whole words and pairs
# otherwise weigh little against spelling, and a writer the model never saw spells
# differently (leaving one writer's batch out: docs/moderation.md, seventh session).
WORD_REPEAT = 3
# Longer messages are scored on their first words: the cost stays bounded (p99), and a
# crisis statement longer than this is rare in chat (the lists still read all of it).
MAX_WORDS = 300
MAX_WORD_CHARS = 64
# Packing per-concern integer sums into one int: each field holds a sum plus _OFFSET per
# key added, so it never goes negative; a key has at most 2 * MAX_WORD_CHARS + 4 features
# of at most 127 (< 2**20), and 300 words and 299 pairs add up to < 600 * 2**21 < 2**40.
_FIELD = 40
_FIELD_MASK = (1 << _FIELD) - 1
_FIELD2, _FIELD3 = 2 * _FIELD, 3 * _FIELD
_OFFSET = 1 << 20
_ONE_OFFSET = sum(_OFFSET << (_FIELD * c) for c in range(4))
# Words and word pairs remembered (~250 bytes each: at most ~10 MB per worker).
_CACHE_LIMIT = 40_000
# Pairs of words this many apart are features too (skip-grams), each counted this often.
SKIP_DISTANCES: tuple[int, ...] = ()
SKIP_REPEAT = 1
_NOTHING: dict[str, int] = {}  # the inner dict of a first word never seen (never written)
_get = dict.get
_NEAREST_SKIP = min(SKIP_DISTANCES, default=MAX_WORDS)


class Scores(NamedTuple):
    """Probability per concern that the message is one."""

    crisis: float
    abuse: float
    medication_sale: float
    contact: float


def word_features(word: str, mask: int) -> list[int]:
    """Buckets of one word's own features: the word, and its first MAX_WORD_CHARS
    characters' runs (which bounds the sums packed by the Scorer)."""
    word = word[:MAX_WORD_CHARS]
    out = [zlib.crc32(b"w " + word.encode()) & mask] * WORD_REPEAT
    padded = f" {word} "
    length = len(padded)
    for size in CHAR_SIZES:
        for start in range(length - size + 1):
            out.append(zlib.crc32(padded[start : start + size].encode()) & mask)
    return out


def pair_features(first: str, second: str, mask: int) -> list[int]:
    return [zlib.crc32(f"p {first} {second}".encode()) & mask] * WORD_REPEAT


def skip_features(first: str, second: str, mask: int) -> list[int]:
    """Two words two or three apart ("you ... pathetic", "i ... tonight"): one feature
    whichever the distance."""
    return [zlib.crc32(f"s {first} {second}".encode()) & mask] * SKIP_REPEAT


def features(view: str, bits: int) -> list[int]:
    """Every feature bucket of a canonical view, repeats kept (training reads this; the
    scorer computes the same sum word by word)."""
    mask = (1 << bits) - 1
    words = view.split()[:MAX_WORDS]
    out: list[int] = []
    for word in words:
        out.extend(word_features(word, mask))
    for first, second in itertools.pairwise(words):
        out.extend(pair_features(first, second, mask))
    for distance in SKIP_DISTANCES:
        for first, second in zip(words, words[distance:], strict=False):
            out.extend(skip_features(first, second, mask))
    return out


@dataclass(frozen=True, slots=True)
class Model:
    """Weights per concern (int8, concern-major) and what they were trained on."""

    version: str
    data_digest: str  # digest of the training messages and labels
    bits: int
    scales: tuple[float, ...]  # weight = int8 * scale, per concern
    biases: tuple[float, ...]
    thresholds: tuple[float, ...]  # decide "yes" at or above, per concern
    # The crisis score ~5 % of crisis statements fall under out of batch. Until the seventh
    # session a listed phrase scored below it (with a marker word) lost its priority; now
    # the crisis threshold and moderation/mentions.py decide, and this is only recorded.
    crisis_floor: float
    weights: array  # type: ignore[type-arg]  # int8, len(CONCERNS) << bits
    meta: dict[str, object]

    def describe(self) -> str:
        """One line for the start-up log."""
        return (
            f"learned moderation model {self.version} (training data {self.data_digest[:16]}, "
            f"{len(self.weights) // 1024} KiB of weights, thresholds "
            + ", ".join(f"{c} {t:.2f}" for c, t in zip(CONCERNS, self.thresholds, strict=True))
            + ")"
        )

    def to_bytes(self) -> bytes:
        header = {
            "format": FORMAT,
            "version": self.version,
            "data_digest": self.data_digest,
            "bits": self.bits,
            "concerns": list(CONCERNS),
            "scales": list(self.scales),
            "biases": list(self.biases),
            "thresholds": list(self.thresholds),
            "crisis_floor": self.crisis_floor,
            "meta": self.meta,
        }
        return json.dumps(header, sort_keys=True).encode() + b"\n" + self.weights.tobytes()

    @classmethod
    def from_bytes(cls, blob: bytes) -> "Model":
        head, _, body = blob.partition(b"\n")
        header = json.loads(head)
        if header.get("format") != FORMAT or header.get("concerns") != list(CONCERNS):
            raise ValueError(f"not a {FORMAT} model for {CONCERNS}")
        weights = array("b")
        weights.frombytes(body)
        bits = int(header["bits"])
        if len(weights) != len(CONCERNS) << bits:
            raise ValueError("model weights do not match its header")
        return cls(
            version=str(header["version"]),
            data_digest=str(header["data_digest"]),
            bits=bits,
            scales=tuple(float(x) for x in header["scales"]),
            biases=tuple(float(x) for x in header["biases"]),
            thresholds=tuple(float(x) for x in header["thresholds"]),
            crisis_floor=float(header["crisis_floor"]),
            weights=weights,
            meta=dict(header.get("meta", {})),
        )


@lru_cache(maxsize=1)
def default_model() -> Model:
    """The model shipped in moderation/data, read once per process."""
    blob = resources.files("moderation.data").joinpath(MODEL_FILE).read_bytes()
    return Model.from_bytes(blob)


# Each bucket's four int8 weights in one unsigned 64-bit word, _QUAD_BITS apiece (weight
# + 128): a word's features (at most 2 * MAX_WORD_CHARS + 4 buckets, each field < 256)
# sum to < 2**16 per field without carrying into the next.
_QUAD_BITS = 16
_QUAD_MASK = (1 << _QUAD_BITS) - 1
_QUADS: dict[int, tuple[Model, array]] = {}  # type: ignore[type-arg]


def _quads(model: Model) -> array:  # type: ignore[type-arg]
    """The model's weights packed per bucket (2 MiB for 2**18 buckets), built once per
    model and process."""
    kept = _QUADS.get(id(model))
    if kept is not None:
        return kept[1]
    size = 1 << model.bits
    w = model.weights
    found = array(
        "Q",
        (
            (w[b] + 128)
            | (w[b + size] + 128) << _QUAD_BITS
            | (w[b + 2 * size] + 128) << _QUAD_BITS * 2
            | (w[b + 3 * size] + 128) << _QUAD_BITS * 3
            for b in range(size)
        ),
    )
    _QUADS.clear()  # one model per process in service (tests may swap)
    _QUADS[id(model)] = (model, found)  # the model kept: its id is not reused
    return found


class Scorer:
    """Scores messages with a model, remembering the last text (the stages of one
    pipeline share one scorer, as they share one Scanner) and each word's summed weights.

    The view scored is the canonical view of the text the sender wrote (stages pass the
    original text, so masking a phone number does not hide an offer from the model).
    """

    def __init__(self, scanner: Scanner, model: Model | None = None) -> None:
        self._scanner = scanner
        self.model = model if model is not None else default_model()
        self._mask = (1 << self.model.bits) - 1
        self._quads = _quads(self.model)
        # Summed int8 weights, and how many features they stand for, packed in one int
        # (_FIELD bits per concern, then the count): per word (its own features), per
        # pair of neighbouring words (the second word's own features and the pair's,
        # `_near[first][second]`), and per pair of words two or three apart (`_far`).
        # Nested dicts, not tuple keys: no tuple is built, hashed and compared per word.
        # The weights are read once per new word or pair.
        self._words: dict[str, int] = {}
        self._near: dict[str, dict[str, int]] = {}
        self._far: dict[str, dict[str, int]] = {}
        self._kept = 0
        self._despair = despair_words(scanner)
        self._last_text: str | None = None
        self._last: Scores = Scores(0.0, 0.0, 0.0, 0.0)
        self._last_view = ""
        self._last_words = 0

    def scores(self, text: str) -> Scores:
        if text is self._last_text or text == self._last_text:
            return self._last
        scan = self._scanner.scan(text)
        view = scan.views[scan.leet_index]
        result = self.score_view(view)
        self._last_text = text
        self._last = result
        self._last_view = view
        return result

    def score_view(self, view: str) -> Scores:
        words = view.split()[:MAX_WORDS]
        self._last_words = len(words)
        return self._score_words(words)

    def _score_words(self, words: list[str]) -> Scores:
        length = len(words)
        if not length:
            return Scores(0.0, 0.0, 0.0, 0.0)
        # One look-up per word and pair in the remembered sums, all in C: the first word
        # alone, each later one together with the word before it (its own features and
        # the pair's), then the pairs two and three apart; packed into one int so a
        # single C-level sum adds all four concerns and the feature count at once.
        first = self._words.get(words[0])
        if first is None:
            first = self._remember_word(words[0])
        later = words[1:]
        found = list(map(_get, map(self._near.get, words, repeat(_NOTHING, length - 1)), later))
        if None in found:
            found = [
                packed if packed is not None else self._remember_near(before, word)
                for before, word, packed in zip(words, later, found, strict=False)
            ]
        total = first + sum(cast(list[int], found))
        if length > _NEAREST_SKIP:
            starts = list(map(self._far.get, words, repeat(_NOTHING, length - _NEAREST_SKIP)))
            apart = list(chain.from_iterable(map(_get, starts, words[d:]) for d in SKIP_DISTANCES))
            if None in apart:
                firsts = [word for d in SKIP_DISTANCES for word in words[: length - d]]
                seconds = [word for d in SKIP_DISTANCES for word in words[d:]]
                apart = [
                    packed if packed is not None else self._remember_far(before, word)
                    for before, word, packed in zip(firsts, seconds, apart, strict=True)
                ]
            total += sum(cast(list[int], apart))
        offset = length * _OFFSET
        count = total >> (_FIELD * 4)
        norm = 1.0 / math.sqrt(count)
        scales, biases = self.model.scales, self.model.biases
        return Scores(
            _logistic(biases[0] + ((total & _FIELD_MASK) - offset) * scales[0] * norm),
            _logistic(biases[1] + ((total >> _FIELD & _FIELD_MASK) - offset) * scales[1] * norm),
            _logistic(biases[2] + ((total >> _FIELD2 & _FIELD_MASK) - offset) * scales[2] * norm),
            _logistic(biases[3] + ((total >> _FIELD3 & _FIELD_MASK) - offset) * scales[3] * norm),
        )

    def _remember_word(self, word: str) -> int:
        """A word's own features' summed weights (each field plus one _OFFSET)."""
        packed = self._packed(word_features(word, self._mask))
        self._make_room()
        self._words[word] = packed
        return packed

    def _remember_near(self, before: str, word: str) -> int:
        """The word's own features and the pair's with the word before it, summed (each
        field plus one _OFFSET: the pair's sum is small beside it, so no field goes
        negative)."""
        own = self._words.get(word)
        if own is None:
            own = self._remember_word(word)
        packed = own + self._packed(pair_features(before, word, self._mask)) - _ONE_OFFSET
        self._make_room()
        self._near.setdefault(before, {})[word] = packed
        return packed

    def _remember_far(self, before: str, word: str) -> int:
        """The features of two words two or three apart, summed (no _OFFSET: a field of
        it may be negative, and the message's fields still are not)."""
        packed = self._packed(skip_features(before, word, self._mask)) - _ONE_OFFSET
        self._make_room()
        self._far.setdefault(before, {})[word] = packed
        return packed

    def _packed(self, buckets: list[int]) -> int:
        # One C-level sum over the buckets' four weights packed together (_QUAD_BITS per
        # concern, each weight + 128 so none is negative), then unpacked into the wider
        # fields the message's sum needs.
        summed: int = sum(map(self._quads.__getitem__, buckets))
        count = len(buckets)
        bias = 128 * count - _OFFSET
        return (
            (count << _FIELD * 4)
            | ((summed & _QUAD_MASK) - bias)
            | ((summed >> _QUAD_BITS & _QUAD_MASK) - bias) << _FIELD
            | ((summed >> _QUAD_BITS * 2 & _QUAD_MASK) - bias) << _FIELD2
            | ((summed >> _QUAD_BITS * 3) - bias) << _FIELD3
        )

    def _make_room(self) -> None:
        self._kept += 1
        if self._kept > _CACHE_LIMIT:
            # Bounded: a flood of made-up words cannot grow it. (What a message is
            # summing right now was already read from these dicts or is returned.)
            self._words.clear()
            self._near.clear()
            self._far.clear()
            self._kept = 1

    def judged(self, ctx: MessageContext, concern: str) -> float:
        """The message's score for a concern, or 0 when it is too short or shapeless for
        the model to judge alone (see enough_to_judge)."""
        score = self.scores(ctx.written)[CONCERNS.index(concern)]
        if concern in _MIN_WORDS:
            # Every member message comes here (the crisis stage's context): the word
            # count scoring took, not another split and search.
            return score if self._last_words >= _MIN_WORDS[concern] else 0.0
        return score if concern in enough_to_judge(self._last_view, ctx.written) else 0.0

    def says(self, ctx: MessageContext, concern: str) -> bool:
        """Whether the model reads the sender's message (as written) as this concern, and
        the message is long enough for the model to judge it alone (see enough_to_judge)."""
        index = CONCERNS.index(concern)
        if self.scores(ctx.written)[index] < self.model.thresholds[index]:
            return False
        return concern in enough_to_judge(self._last_view, ctx.written)

    def beyond_despair(self, ctx: MessageContext, phrases: Sequence[str] = ()) -> bool:
        """Whether the model reads the sender at risk (`says` crisis) and still does
        with the despair taken out: the words of DESPAIR_WORDS and of the phrases the
        lists read as hopelessness ("at the end of my rope"). What is left has to carry
        it: a burden, a wish, an exit, a time or arrangements. Despair alone ("I feel so
        hopeless, nothing is ever going to get better") is the lists' low-priority flag,
        not a priority alert (docs/moderation.md, "Despair alone")."""
        if not self.says(ctx, "crisis"):
            return False
        words = self._last_view.split()[:MAX_WORDS]
        rest = words_beyond_despair(words, self._despair, phrases, self._scanner)
        if len(rest) == len(words):
            return True
        # As alone: the model judges a crisis from 3 words ("im" alone weighs a lot).
        return (
            len(rest) >= _MIN_WORDS["crisis"]
            and self._score_words(rest).crisis >= self.model.thresholds[0]
        )

    def above(self, scores: Scores) -> frozenset[str]:
        """The concerns whose score reached the model's threshold."""
        return frozenset(
            concern
            for concern, score, threshold in zip(
                CONCERNS, scores, self.model.thresholds, strict=True
            )
            if score >= threshold
        )


# A few words weigh a lot after normalising by sqrt(features): "hi there", "Can I add
# something?" read like "add me" to the contact model, "While you were away" like an
# insult. Alone the model judges abuse and sales from 6 words; contact only with
# something that could identify someone or name a way to reach them: an identifier-shaped
# word (@, _, a dot inside a word, letters and digits run together, a run of 3+ digits,
# run-together capitals, letters spaced out, a number spelled out), two capitalised words
# ("search Jo Bloggs", "12 Elm Road"), or the words of a contact route ("dm me for my
# digits", "what's your address?"); crisis from 3 words ("not safe tonight"; alone,
# "note 1" read like a suicide note, while no message of one or two words that should
# pass was flagged out of batch, nor 20 of 29 crisis ones).
_MIN_WORDS = {"crisis": 3, "abuse": 6, "medication_sale": 6}
_IDENTIFIER_SHAPED = re.compile(
    r"[@_]|\w\.\w|[A-Za-z]\d|\d[A-Za-z]|\d{3}|"
    # two capitalised words, accents included ("Mairéad Ní Bhriain", "Knockmore, Ballina")
    r"[A-Z\u00c0-\u00de][a-z\u00df-\u00ff]+,?\s+[A-Z\u00c0-\u00de][a-z\u00df-\u00ff]+|"
    # run-together capitals ("SpoonsNoMore"), letters spaced out ("K e v i n")
    r"[a-z][A-Z][a-z]|\b(?:\w  ?){3,}\w\b|"
    # a number spelled out ("oh seven seven hundred"), 3+ number words in a row
    r"\b(?:(?:oh|zero|one|two|three|four|five|six|seven|eight|nine|double|triple|hundred)"
    r"[\s,./-]+){2,}(?:oh|zero|one|two|three|four|five|six|seven|eight|nine|hundred)\b"
)
# The words of a way to reach someone, without the detail ("dm me for my digits"), in a
# message of 3 words or more ("whole number" alone is no invitation).
_CONTACT_ROUTE = re.compile(
    r"(?i:\b(?:dms?|pm|inbox|digits|number|addy|address|whats\s?app|insta\w*|snap\w*|"
    r"facebook|fb|telegram|discord|e-?mail|privately|message me|add me|find me|look me up|"
    r"search (?:for )?(?:me|my)|handle|username)\b)|\U0001f4f1|\U0001f47b"
)


def enough_to_judge(view: str, text: str) -> frozenset[str]:
    """The concerns the model may decide alone for this message (training picks its
    thresholds on the same messages)."""
    words = len(view.split())
    enough = {c for c, least in _MIN_WORDS.items() if words >= least}
    if _IDENTIFIER_SHAPED.search(text) or (words >= 3 and _CONTACT_ROUTE.search(text)):
        enough.add("contact")
    return frozenset(enough)


# Words of despair alone, as members write them: what `Scorer.beyond_despair` takes out
# of a message the lists read as hopelessness before asking the model again.
DESPAIR_WORDS = (
    *("hopeless", "hopelessness", "pointless", "point", "futile", "meaningless"),
    *("anymore", "nothing", "never", "better", "worse", "hope", "matters", "cope"),
    *("fighting", "fight", "tired", "done", "give", "given", "cant", "can't", "keep"),
    *("limit", "tether", "breaking", "left", "ever", "forever", "same", "anything"),
    "everything",
)


def despair_words(scanner: Scanner) -> frozenset[str]:
    """DESPAIR_WORDS as the model's view spells them (the leet view: "hopeless" is
    "hopeiess")."""
    found: set[str] = set()
    for word in DESPAIR_WORDS:
        scan = scanner.scan(word)
        found.update(scan.views[scan.leet_index].split())
    return frozenset(found)


def words_beyond_despair(
    words: list[str], despair: frozenset[str], phrases: Sequence[str], scanner: Scanner
) -> list[str]:
    """The words of a view without the words of despair and of the given phrases
    (spelled as the model's view spells them)."""
    taken = set(despair)
    for phrase in phrases:
        scan = scanner.scan(phrase)
        taken.update(scan.views[scan.leet_index].split())
    return [word for word in words if word not in taken]


def _logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def quantise(values: Sequence[float]) -> tuple[array, float]:  # type: ignore[type-arg]
    """int8 weights and their scale (largest magnitude maps to 127)."""
    largest = max((abs(v) for v in values), default=0.0) or 1.0
    scale = largest / 127.0
    return array("b", (max(-127, min(127, round(v / scale))) for v in values)), scale
