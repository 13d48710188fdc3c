"""Fast paths must decide exactly what the straightforward code they replace decides.

Each test keeps the plain version (the code as it was before the fast path) and compares
the two on generated text: corpus words shuffled together with the pieces each fast path
treats specially.
"""

import random
import re
from pathlib import Path

from moderation import canonical, crisis, handles, lexicon, links, scanning
from moderation.context import MessageContext
from moderation.lexicon import Hit, default_lexicon
from moderation.pipeline import default_pipeline
from moderation.policy import ModerationPolicy
from moderation.scanning import Scan

POLICY = ModerationPolicy()
CORPUS = Path(__file__).parent.parent / "moderation_corpus" / "corpus.tsv"


def corpus_words() -> list[str]:
    words: list[str] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            words.extend(line.split("\t", 1)[1].replace("\\n", "\n").split())
    return words


WORDS = corpus_words()
# Pieces that crowd hits onto shared spans, put someone else in front of a phrase, or
# make links, handles and hosts.
EXTRA = (
    "my friend",
    "she",
    "i",
    "not",
    "told me to",
    "never",
    "kill",
    "myself",
    "want to die",
    "selling",
    "oxy",
    "tramadol",
    "anyone",
    "insta:",
    "my snap is",
    "on insta",
    "add me on",
    "@jo_88",
    "jane.doe",
    "u/painpal",
    "abc#1234",
    "www.nhs.uk/pain",
    "t.me/jo",
    "example.com",
    "a.b.c",
    "..",
    ".",
    "dot",
    "com",
    "https://bit.ly/x",
    "instagram.com/jo",
    "\u00a0",
    "\u2003",
    "\t",
    "\n",
    "\u2013",
    "=",
    "-",
    ":",
    "k1ll",
    "k i l l",
    "fuuuuck",
)


def texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    pool = WORDS + list(EXTRA) * 20
    out: list[str] = []
    for _ in range(count):
        pieces = [rng.choice(pool) for _ in range(rng.randint(1, 40))]
        joiners = [rng.choice((" ", " ", " ", "", ".", "\u00a0", "  ")) for _ in pieces]
        out.append("".join(piece + joiner for piece, joiner in zip(pieces, joiners, strict=True)))
    return out


# ---------------------------------------------------------------- list resolution


def reference_after_any(
    view: str, hit: Hit, before: list[tuple[str | None, frozenset[str]]], most: int
) -> bool:
    """_after_any trying every run of words in front of the hit against every scope."""
    words = view[max(0, hit.start - 80) : hit.start].split()[-most:]
    for scope, phrases in before:
        if scope is not None and scope != hit.entry.section:
            continue
        if any(" ".join(words[-count:]) in phrases for count in range(1, len(words) + 1)):
            return True
    return False


def reference_resolve_list(
    lex: lexicon.Lexicon, name: str, found: list[Hit], views: list[str]
) -> list[Hit]:
    """_resolve_list deciding every hit on its own, against every other hit."""
    suppressors = [hit for hit in found if hit.entry.suppress]
    phrases = [hit for hit in found if not hit.entry.suppress]
    before = lex.before.get(name)
    return [
        hit
        for hit in phrases
        if not scanning._contained(hit, phrases)
        and not scanning._suppressed(hit, suppressors)
        and not (before and reference_after_any(views[hit.view], hit, before, lex.before_words))
    ]


def test_resolving_once_per_span_keeps_the_same_hits() -> None:
    lex = default_lexicon()
    compared = 0
    for text in texts(seed=4, count=3000):
        scan = Scan(lex, text)
        for name, found in scanning._group_by_list(scan._matches).items():
            fast = scanning._resolve_list(lex, name, found, scan.views)
            assert fast == reference_resolve_list(lex, name, found, scan.views), (name, text)
            compared += len(found)
    assert compared > 5_000  # the generator really does make crowded hits


def reference_effective(scan: Scan, lists: tuple[str, ...]) -> list[Hit]:
    """Scan.effective as it was: every list resolved, whether or not it has a hit."""
    hits = scan.hits_for(lists)
    plain = [hit for hit in hits if hit.entry.near is None]
    return plain + scanning.near_rules(scan, hits) if len(plain) < len(hits) else plain


def test_effective_answers_lists_without_hits_at_once_with_the_same_hits() -> None:
    lex = default_lexicon()
    questions = (
        ("crisis",), ("contact",), ("slurs", "harassment"), ("medication",), ("swearing",),
        ("harassment", "slurs"), ("nope",), (),
    )  # fmt: skip
    found = 0
    for text in texts(seed=6, count=2000):
        for lists in questions:
            fast = Scan(lex, text).effective(lists)
            assert fast == reference_effective(Scan(lex, text), lists), (lists, text)
            found += bool(fast)
        scan = Scan(lex, text)  # several questions of one scan, in turn
        for lists in questions:
            assert scan.effective(lists) == reference_effective(Scan(lex, text), lists), text
    assert found > 1_000


def test_before_phrases_are_found_through_their_last_word() -> None:
    # Every "before" phrase right in front of a hit, and other words: the hit must be
    # dropped exactly when the plain look-up drops it.
    lex = default_lexicon()
    rng = random.Random(9)
    forms = sorted(form for scopes in lex.before.values() for _, fs in scopes for form in fs)
    for _ in range(3000):
        lead = " ".join(rng.choice(forms + WORDS[:200]) for _ in range(rng.randint(0, 4)))
        text = f"{lead} {rng.choice(('want to die', 'kill yourself', 'kys', 'go die'))}"
        scan = Scan(lex, text)
        for name, found in scanning._group_by_list(scan._matches).items():
            before = lex.before.get(name)
            if not before:
                continue
            for hit in found:
                view = scan.views[hit.view]
                expected = reference_after_any(view, hit, before, lex.before_words)
                assert (
                    scanning._after_any(view, hit, before, lex.before_words, lex.before_ends[name])
                    == expected
                ), text


def test_crisis_sections_are_decided_once_per_span_with_the_same_answers() -> None:
    lex = default_lexicon()
    for text in texts(seed=5, count=3000):
        scan = Scan(lex, text)
        hits = crisis.crisis_hits(scan, POLICY.crisis_lists)
        expected = [crisis.section_of(scan, hit) for hit in hits]
        assert crisis.sections_of(scan, hits) == expected, text
        assert crisis.classify(scan, hits) == set(expected)


# ----------------------------------------------------------------------- links


def reference_find_links(text: str) -> list[links.Link]:
    """find_links walking out from each "." character by character."""
    found: list[links.Link] = []
    dot = text.find(".")
    while dot >= 0:
        start = dot
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        end = dot + 1
        while end < len(text) and not text[end].isspace():
            end += 1
        for match in links._URL.finditer(text, start, end):
            raw = match.group(0)
            stripped = raw.rstrip(links._TRAILING)
            host, path = links._host_and_path(stripped)
            if host:
                found.append(
                    links.Link(match.start(), match.end() - (len(raw) - len(stripped)), host, path)
                )
        dot = text.find(".", end)
    if "dot" in text:
        found.extend(links._spelled(text))
    return found


def test_dotted_words_are_the_words_around_each_dot() -> None:
    # Every Unicode space str.isspace knows, next to dots, at both ends of the text.
    spaces = [chr(c) for c in range(0x3100) if chr(c).isspace()]
    rng = random.Random(6)
    generated = [text.lower() for text in texts(seed=6, count=3000)]
    for _ in range(3000):
        generated.append(
            "".join(
                rng.choice(("a", "b.", ".", "co", ".uk", "/x", "www", *spaces))
                for _ in range(rng.randint(0, 30))
            )
        )
    for text in generated:
        assert links.find_links(text) == reference_find_links(text), repr(text)


def test_host_lookup_matches_suffix_comparison() -> None:
    rng = random.Random(7)
    labels = ("nhs", "uk", "co", "com", "www", "a", "b", "pain", "org", "", "x.y")
    domain_lists = [
        POLICY.link_allowlist,
        links.CHAT_HOSTS,
        links.PROFILE_HOSTS,
        ("nhs.uk", "co.uk", "uk", "a.b"),
        (),
    ]
    for _ in range(20_000):
        host = ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4)))
        domains = rng.choice(domain_lists)
        expected = any(host == d or host.endswith("." + d) for d in domains)
        assert links.host_in(host, domains) == expected, (host, domains)


# --------------------------------------------------------------------- handles


def reference_handles(view: str) -> list[tuple[int, int]]:
    """handles.find_handles running every platform pattern in every platform window (the
    soft patterns, tried only from and up to each platform word, as it does)."""
    found: list[tuple[int, int]] = []
    windows: list[tuple[re.Pattern[str], int, int]] = []
    for platform in handles._PLATFORM_WORD.finditer(view):
        start, end = max(0, platform.start() - 48), min(len(view), platform.end() + 48)
        windows.extend((pattern, start, end) for pattern in handles._HANDLE_PATTERNS)
        for match in handles.soft_matches(view, platform.start(), platform.end()):
            if handles.is_handle(match) and match.span() not in found:
                found.append(match.span())
    if "u/" in view:
        windows.append((handles._REDDIT_USER, 0, len(view)))
    if "#" in view:
        windows.append((handles._DISCORD_TAG, 0, len(view)))
    for pattern, start, end in windows:
        for match in pattern.finditer(view, start, end):
            if not handles.is_handle(match):
                continue
            if match.span() not in found:
                found.append(match.span())
    return found


def test_handle_patterns_skipped_by_their_needles_would_not_match() -> None:
    rng = random.Random(8)
    generated = [text.lower() for text in texts(seed=8, count=3000)]
    bits = (
        "my ",
        "insta",
        "snap",
        "ig",
        " is ",
        ": ",
        "=",
        "-",
        "\u2013",
        "@",
        " on ",
        " at ",
        "add me ",
        "follow me ",
        "jo_88 ",
        "jane.doe ",
        "name ",
        " ",
        "x",
        ", ",
        "i'm ",
        " as ",
        "it's ",
        "quillowbee ",
        "discord",
        "the gram",
    )
    for _ in range(5000):
        generated.append("".join(rng.choice(bits) for _ in range(rng.randint(1, 20))))
    matched = 0
    for text in generated:
        expected = reference_handles(text)
        assert handles.find_handles(text) == expected, repr(text)
        matched += bool(expected)
    assert matched > 500  # the generator really does make handles


# ------------------------------------------------------------------ ASCII folding


def test_ascii_views_fold_like_the_character_tables() -> None:
    # bytes.translate on ASCII text against str.translate with the fold tables, on every
    # ASCII character in random mixes and on the generated chat text.
    rng = random.Random(10)
    generated = [text for text in texts(seed=10, count=2000) if text.isascii()]
    for _ in range(5000):
        generated.append("".join(chr(rng.randrange(128)) for _ in range(rng.randint(0, 40))))
    generated.append("".join(chr(code) for code in range(128)))
    for text in generated:
        assert canonical.words_view(text) == canonical._single_spaced(
            text.translate(canonical.WORDS_TABLE)
        ), repr(text)
        folded = text.translate(canonical.LEET_TABLE)
        if "*" not in folded:
            assert canonical.leet_view(text) == canonical._single_spaced(folded), repr(text)
        else:
            tokens = [token for token in (t.strip("*") for t in folded.split()) if token]
            assert canonical.leet_view(text) == " " + " ".join(tokens) + " ", repr(text)


# ------------------------------------------------------------- numbers are not runs

NUMBERS = ("555", "1000mg", "2000", "0800 111 000", "+1 415 555 2671", "£1000", "999", "3000s")


def sections(scan: Scan) -> set[tuple[str, str]]:
    lex = default_lexicon()
    return {(hit.entry.list, hit.entry.section) for hit in scan.effective(tuple(lex.lists))}


def verdicts(text: str) -> tuple[str, str, tuple[str, ...]]:
    ctx = MessageContext("room", "member", "member", text, 1000.0, POLICY)
    # The lists' fast path is what is compared; the learned model reads the text itself.
    outcome = default_pipeline(learned=False).run(ctx)
    return str(outcome.action), outcome.text, tuple(v.rule for v in outcome.verdicts)


def test_numbers_with_repeated_digits_build_no_run_views_and_judge_the_same() -> None:
    """A repeated digit in a number ("555", "1000mg") no longer builds the run-folded views
    (they cost ~25 us a message); every message gets the verdicts it got with them."""
    lex = default_lexicon()
    rng = random.Random(11)
    fewer_views = 0
    for text in texts(seed=12, count=1500):
        words = text.split(" ")
        words.insert(rng.randrange(len(words) + 1), rng.choice(NUMBERS))
        mixed = " ".join(words)
        fast_views = len(Scan(lex, mixed).views)
        fast = verdicts(mixed)
        real = scanning._NUMBER_TRIPLE
        try:
            scanning._NUMBER_TRIPLE = re.compile(r"(?!)")  # the plain version: every triple
            plain_views = len(Scan(lex, mixed).views)
            plain = verdicts(mixed)
        finally:
            scanning._NUMBER_TRIPLE = real
        assert fast == plain, mixed
        fewer_views += plain_views > fast_views
    assert fewer_views > 300  # the numbers really did build run views before


def test_repeated_digits_inside_words_still_unfold() -> None:
    lex = default_lexicon()
    assert len(Scan(lex, "I take 1000mg twice a day, call 0800 555 000").views) == 1
    for disguised, found in (
        ("k1lllll yourself", ("harassment", "harassment")),
        ("i want to d1111e", ("crisis", "suicidal")),
    ):
        assert found in sections(Scan(lex, disguised)), disguised
