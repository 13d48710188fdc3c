import pytest

from moderation.lexicon import Lexicon
from moderation.scanning import effective
from moderation.wordlists import expand, parse_list


def lexicon(source: str, name: str = "test") -> Lexicon:
    return Lexicon({name: source})


def sections(lex: Lexicon, text: str, name: str = "test") -> list[str]:
    from moderation.scanning import Scanner

    return sorted({hit.entry.section for hit in effective(Scanner(lex).scan(text), (name,))})


def test_expand_alternatives_and_optional_parts() -> None:
    assert expand("{i|we} {really |}want to go") == [
        "i really want to go",
        "i want to go",
        "we really want to go",
        "we want to go",
    ]
    assert expand("a {b|{c|d} e}") == ["a b", "a c e", "a d e"]


@pytest.mark.parametrize("pattern", ["a {b", "a b}", "a|b"])
def test_unbalanced_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(ValueError, match="unbalanced"):
        expand(pattern)


def test_variables_sections_and_markers() -> None:
    lines = parse_list("x", "@pet = cat|dog\n[pets]\nmy @pet # inline comment\n?his @pet\n")
    assert [(line.section, line.text, line.subject) for line in lines] == [
        ("pets", "my {cat|dog}", False),
        ("pets", "his {cat|dog}", True),
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("word", "before any"),
        ("[s bogus]\nword", "unknown section option"),
        ("[s]\n@nope thing", "unknown variable"),
        ("[s near=2]\njust one side", "near sections"),
    ],
)
def test_bad_list_files_are_errors(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_list("x", source)


def test_whole_words_only_unless_starred() -> None:
    lex = lexicon("[swear]\nfuck*\n[word]\nass\n")
    assert sections(lex, "what the fucking hell") == ["swear"]
    assert sections(lex, "a pain in the ass") == ["word"]
    assert sections(lex, "the class was passable") == []


def test_longer_phrase_of_a_list_wins() -> None:
    lex = lexicon("[short]\ntired of living\n[long]\ntired of living like this\n")
    assert sections(lex, "so tired of living like this") == ["long"]
    assert sections(lex, "so tired of living") == ["short"]


def test_suppress_cancels_overlapping_hits() -> None:
    lex = lexicon("[wish]\nwant to die\n[idiom suppress]\ndont want to die\n")
    assert sections(lex, "i want to die") == ["wish"]
    assert sections(lex, "i don't want to die") == []


def test_before_cancels_a_hit_right_after_it_and_can_be_scoped() -> None:
    lex = lexicon(
        "[a]\nkill myself\n[b]\nfaking it\n"
        "[told suppress before]\ntold me to\n"
        "[scoped suppress before for=b]\nthink youre\n"
    )
    assert sections(lex, "he told me to kill myself") == []
    assert sections(lex, "i want to kill myself") == ["a"]
    assert sections(lex, "they think youre faking it") == []
    assert sections(lex, "they think youre kill myself") == ["a"]  # scoped to b only


def test_near_rules_need_every_side_within_the_distance() -> None:
    lex = lexicon("[offer near=3]\nselling && {oxy|tramadol}\n")
    assert sections(lex, "selling my old tramadol") == ["offer"]
    assert sections(lex, "tramadol for sale? selling it") == ["offer"]  # either order
    assert sections(lex, "selling my car so i can pay for my tramadol") == []
    assert sections(lex, "tramadol made me sick") == []


def test_three_sided_near_rules_are_ordered() -> None:
    lex = lexicon("[od near=2]\ntook && pills && on purpose\n")
    assert sections(lex, "i took all my pills on purpose") == ["od"]
    assert sections(lex, "on purpose i took the pills") == []


def test_star_and_doubles_options() -> None:
    lex = lexicon("[slur star doubles]\nfaggot\n")
    for text in ("f*ggot", "fagg*t", "f*gg*t", "faggott", "fagggot"):
        assert sections(lex, text) == ["slur"], text


def test_joined_option() -> None:
    lex = lexicon("[h joined]\nkill yourself\n[c]\nkill myself\n")
    assert sections(lex, "killyourself") == ["h"]
    assert sections(lex, "killmyself") == []


def test_the_shipped_lists_compile() -> None:
    from moderation.lexicon import default_lexicon

    lex = default_lexicon()
    assert {"crisis", "slurs", "harassment", "swearing", "medication", "contact"} <= lex.lists
    assert lex.key_count < 120_000  # keep the automaton small enough to stay fast
