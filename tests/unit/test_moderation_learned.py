"""The learned second signal (moderation/learned.py, train.py, recent.py, evaluate.py):
what the shipped model does to messages members would send, that training and inference
compute the same score, that training is reproducible, and that context across a
member's messages raises an alert no single message does."""

import json
import math
from pathlib import Path

import pytest

from moderation import Action, MessageContext, ModerationPolicy, default_pipeline, learned
from moderation.corpus import CONCERNS, Record, parse_jsonl
from moderation.crisis import crisis_hits, hopeless_phrases
from moderation.evaluate import figures, read_records, run_all
from moderation.learned import FORMAT, Model, Scorer, default_model, features
from moderation.medication import MedicationStage
from moderation.recent import RecentMessages
from moderation.scanning import Scanner
from moderation.train import build, examples, folds, held_out_writers, training_files

POLICY = ModerationPolicy()


@pytest.fixture(scope="module")
def pipeline_factory():  # type: ignore[no-untyped-def]
    default_pipeline()  # compile the lists once for the module
    return default_pipeline


def _run(pipeline, text: str, sender: str = "m1", now: float = 1000.0, room: str = "r"):  # type: ignore[no-untyped-def]
    outcome = pipeline.run(MessageContext(room, sender, "member", text, now, POLICY))
    pipeline.accept(outcome)
    return outcome


def test_the_shipped_model_says_what_it_was_trained_on() -> None:
    model = default_model()
    line = model.describe()
    assert model.version in line and model.data_digest[:16] in line
    assert len(model.data_digest) == 64
    assert len(model.weights) == len(CONCERNS) << model.bits
    assert all(0.0 < t < 1.0 for t in model.thresholds)
    # Small enough to ship in the repo and load in every worker.
    assert len(model.to_bytes()) < 4 * 1024 * 1024
    assert Model.from_bytes(model.to_bytes()) == model


def test_a_damaged_model_file_is_refused() -> None:
    blob = default_model().to_bytes()
    with pytest.raises(ValueError):
        Model.from_bytes(blob[:-10])
    with pytest.raises(ValueError):
        Model.from_bytes(blob.replace(FORMAT.encode(), b"something-else/9", 1))


def test_the_scorer_computes_exactly_what_training_computes() -> None:
    # The scorer sums remembered per-word and per-pair weights; training reads the flat
    # feature list. Any drift between them would make the thresholds meaningless.
    scanner = Scanner()
    scorer = Scorer(scanner)
    model = scorer.model
    stride = 1 << model.bits
    texts = [
        "honestly i cant do this anymore, everyone would be better off",
        "S*icide   feels like the only way out tbh",
        "selling my spare gabbies, 50p each, dm me",
        "this flare is killing me lol",
        "a",
        "word " * 400,  # longer than MAX_WORDS
    ]
    for text in texts * 2:  # the second round reads the remembered sums
        view = scanner.scan(text).views[scanner.scan(text).leet_index]
        buckets = features(view, model.bits)
        expected = [
            1
            / (
                1
                + math.exp(
                    -(
                        model.biases[c]
                        + sum(model.weights[b + c * stride] for b in buckets)
                        * model.scales[c]
                        / math.sqrt(len(buckets))
                    )
                )
            )
            for c in range(len(CONCERNS))
        ]
        assert list(scorer.scores(text)) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert scorer.scores("   ") == (0.0, 0.0, 0.0, 0.0)


def test_training_is_reproducible_byte_for_byte() -> None:
    records = [
        Record("i want to end it all tonight", frozenset({"crisis"}), batch="b"),
        Record("you are pathetic and i will find you", frozenset({"abuse"}), batch="b"),
        Record("selling spare tramadol cheap", frozenset({"medication_sale"}), batch="b"),
        Record("add me on snap its jo_88", frozenset({"contact"}), batch="b"),
        Record("the heat pad helped a bit today", frozenset(), batch="b"),
    ]
    first = build(records, validate=False).to_bytes()
    assert build(records, validate=False).to_bytes() == first
    changed = [*records[:-1], Record("the heat pad helped today", frozenset(), batch="b")]
    assert Model.from_bytes(build(changed, validate=False).to_bytes()).data_digest != (
        Model.from_bytes(first).data_digest
    )


def test_training_never_reads_a_test_batch(tmp_path: Path) -> None:
    for name in (
        "train-x.jsonl",
        "fresh-test.jsonl",
        "crisis_test.tsv",
        "corpus.tsv",
        "train-s1-sequences.jsonl",
        "waiting-y.jsonl",
    ):
        (tmp_path / name).write_text("", encoding="utf-8")
    assert [path.name for path in training_files(tmp_path)] == ["train-x.jsonl", "corpus.tsv"]
    assert [path.name for path in training_files(tmp_path, with_waiting=True)] == [
        "train-x.jsonl",
        "waiting-y.jsonl",
        "corpus.tsv",
    ]


def test_crisis_language_in_the_training_corpus_is_never_refused(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    crisis = [
        record
        for path in training_files()
        for record in read_records(path)
        if record.concern == "crisis"
    ]
    assert len(crisis) > 300
    judged = run_all(crisis, pipeline_factory())
    assert figures(judged)["crisis messages refused (must be 0)"] == 0


def test_an_offer_is_held_even_when_its_contact_part_was_masked(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    # The stage reads what the sender wrote: masking "dm me" must not let the sale through.
    stage = MedicationStage(Scanner())
    written = MessageContext("r", "m1", "member", "selling tramadol, dm me", 0.0, POLICY)
    masked = written.with_text("[contact details hidden]")
    assert stage.check(masked).rule == "medication.offer"
    outcome = _run(pipeline_factory(), "anyone want my leftover oxy? message me on whatsapp")
    assert outcome.action is Action.HOLD
    assert any(v.alert == "medication" for v in outcome.verdicts)


@pytest.mark.parametrize(
    ("text", "handle"),
    [
        ("message me on insta - sunny_jo", "sunny_jo"),
        ("dm me on snapchat, jo.smith", "jo.smith"),
        ("add me on whatsapp @jo_painpal", "jo_painpal"),
        # platform word, separators and handle together, however the platform is spelled
        ("add me on ins*a, crpscarly", "crpscarly"),
        ("add me on d!scord pixelpain", "pixelpain"),
        ("add me on Xbox, gamertag BadBackBrandon", "BadBackBrandon"),
        ("add me on the ghost app lol coolcaleb_x", "coolcaleb_x"),
        ("add me on facebook, TJ Kowalczyk, profile has the Packers logo", "Kowalczyk"),
        ('dm me for the invite to our gc "Spoonie Squad 2.0" on insta', "Spoonie Squad"),
        ("t.morris @ example . com, spaces on purpose", "t.morris"),
        ("e-mail: d e b b i e h @ example . com", "d e b b i e h"),
        ("email chris_d (at) example (.) com", "chris_d"),
    ],
)
def test_the_whole_identifier_is_masked(pipeline_factory, text: str, handle: str) -> None:  # type: ignore[no-untyped-def]
    outcome = _run(pipeline_factory(), text)
    assert handle not in outcome.text
    assert any(v.alert == "contact" for v in outcome.verdicts)


@pytest.mark.parametrize(
    "text",
    [
        "two years ago i wanted to die every single day. today im doing ok, the group helped",
        "I was suicidal most of 2021, the right meds and a good therapist made a difference",
        "5 years self harm free today",
        "when I first got sick I wanted to die. I don't feel that way anymore",
        'My teenager said "I want to die" after failing an exam. how do I check in?',
    ],
)
def test_a_resolved_past_crisis_gets_support_but_no_priority_alert(  # type: ignore[no-untyped-def]
    pipeline_factory, text: str
) -> None:
    outcome = _run(pipeline_factory(), text)
    assert not any(v.priority for v in outcome.verdicts)
    assert any(v.alert == "crisis" for v in outcome.verdicts)  # still support offered
    assert outcome.action is not Action.BLOCK


@pytest.mark.parametrize(
    "text",
    [
        "I tried to kill myself in 2019 and I feel like I'm heading back there",
        "i relapsed with self harm after 2 years clean",
        "took the whole packet of co-codamol about an hour ago, i feel really sick",
        "I used to be strong but now I want to die",
    ],
)
def test_a_past_crisis_coming_back_keeps_its_priority(pipeline_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    outcome = _run(pipeline_factory(), text)
    assert any(v.alert == "crisis" and v.priority for v in outcome.verdicts)


def test_a_crisis_in_words_no_list_has_is_flagged_with_priority(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    outcome = _run(pipeline_factory(), "ive sorted out who gets the cat. tonights the night")
    assert outcome.action is Action.FLAG
    crisis = [v for v in outcome.verdicts if v.alert == "crisis"]
    assert crisis and crisis[0].priority


DESPAIR_ALONE = [
    "I'm done fighting",
    "i just cant do this anymore",
    "i cant take much more of this, i'm at the end of my rope",
    "ive reached the end of my tether, i can't do it any more",
]


@pytest.mark.parametrize("text", DESPAIR_ALONE)
def test_despair_alone_is_flagged_without_a_priority_alert(pipeline_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    # Despair without a burden, a wish, an exit or a time is the lists' low-priority flag
    # (docs/moderation.md, "Despair alone"), even where the model alone reads a crisis.
    outcome = _run(pipeline_factory(), text)
    crisis = [(v.rule, v.priority) for v in outcome.verdicts if v.alert == "crisis"]
    assert crisis == [("crisis.hopeless", False)]


def test_the_model_alone_would_raise_despair_to_a_priority_alert() -> None:
    # What the pipeline above holds back: the model reads these as a crisis, and not
    # once the words of despair and the lists' hopeless phrases are taken out.
    scanner = Scanner()
    scorer = Scorer(scanner)
    for text in DESPAIR_ALONE:
        written = MessageContext("r", "m1", "member", text, 0.0, POLICY)
        scan = scanner.scan(text)
        phrases = hopeless_phrases(scan, crisis_hits(scan, POLICY.crisis_lists))
        assert phrases, text
        assert scorer.says(written, "crisis"), text
        assert not scorer.beyond_despair(written, phrases), text


@pytest.mark.parametrize(
    "text",
    [
        "nothing is ever going to get better, so tonight I'm ending it",
        "I'm completely hopeless, I've got the pills saved up for friday",
    ],
)
def test_despair_with_a_time_or_the_means_keeps_its_priority(pipeline_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    outcome = _run(pipeline_factory(), text)
    assert any(v.alert == "crisis" and v.priority for v in outcome.verdicts)


def test_the_remembered_sums_are_bounded_and_stay_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # The word and pair sums are cleared when full; scores must not change either way.
    texts = [
        "honestly i cant do this anymore, everyone would be better off",
        "selling my spare gabbies, 50p each, dm me",
        "add me on snap its jo_88 x",
    ]
    fresh = [Scorer(Scanner()).score_view(text) for text in texts]
    monkeypatch.setattr(learned, "_CACHE_LIMIT", 7)
    small = Scorer(Scanner())
    for _ in range(3):
        assert [small.score_view(text) for text in texts] == fresh
    assert len(small._words) + sum(map(len, small._near.values())) <= 7


def test_leaving_one_writer_out_holds_out_all_their_batches() -> None:
    def batch(writer: str, name: str, n: int) -> list[Record]:
        return [
            Record(
                f"{name} message {i}",
                frozenset({"crisis"} if i % 2 else set()),
                writer=writer,
                batch=name,
            )
            for i in range(n)
        ]

    records = [
        *batch("wA", "wA-uk", 300),
        *batch("wA", "wA-evasive", 300),
        *batch("wB", "wB-us", 600),
        *batch("wC", "wC-older", 500),
        *batch("", "corpus", 40),
    ]
    data = examples(records, Scanner())
    assert held_out_writers(data) == ["wA", "wB", "wC"]
    groups = folds(data)
    for writer in ("wA", "wB", "wC"):
        assert (
            len({g for ex, g in zip(data, groups, strict=True) if ex.record.writer == writer}) == 1
        )
    assert len(set(groups)) == 3  # the small set is spread over the writers' folds


def test_venting_passes_untouched(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    pipeline = pipeline_factory()
    for text in (
        "my gp is useless, third time this month she's fobbed me off",
        "the DWP can go to hell honestly, 6 months for a reply",
        "this flare is absolutely killing me today",
        "took my 300mg gabapentin at 8 like the pharmacist said",
    ):
        assert _run(pipeline, text, sender=text[:8]).action is Action.ALLOW, text


def ctx(now: float, sender: str = "m1", room: str = "r") -> MessageContext:
    return MessageContext(room, sender, "member", "...", now, POLICY)


def test_context_raises_what_no_single_message_does() -> None:
    recent = RecentMessages(keep=5, window_s=1800, least=0.12, despair=0.5)

    # Alone, a borderline message is no pattern.
    assert recent.pattern(ctx(0.0), 0.6, threshold=0.8) is None
    recent.remember(recent.seen(ctx(0.0), 0.6))
    # Then another: together as telling as one flagged message.
    pattern = recent.pattern(ctx(300.0), 0.55, threshold=0.8)
    assert pattern is not None and pattern.messages == 2 and pattern.minutes == 5
    assert "read together" in pattern.reason() and "check in" in pattern.reason()
    # Another member, another room, or long after: nothing.
    assert recent.pattern(ctx(300.0, sender="m2"), 0.55, threshold=0.8) is None
    assert recent.pattern(ctx(300.0, room="r2"), 0.55, threshold=0.8) is None
    assert recent.pattern(ctx(4000.0), 0.55, threshold=0.8) is None
    # A message with nothing of it itself does not complete a pattern.
    assert recent.pattern(ctx(300.0), 0.05, threshold=0.8) is None


def test_a_run_of_faint_small_talk_is_no_pattern() -> None:
    """Short messages score a little each ("dan note 3"); many of them in a row are not
    despair followed by a goodbye, and must not bring a facilitator running each time."""
    recent = RecentMessages(keep=5, window_s=1800, least=0.12, despair=0.5)
    for i in range(10):
        assert recent.pattern(ctx(float(i)), 0.4, threshold=0.8) is None
        recent.remember(recent.seen(ctx(float(i)), 0.4))
    # One earlier message that reads as despair makes the same faint one telling.
    recent.remember(recent.seen(ctx(20.0), 0.7))
    assert recent.pattern(ctx(30.0), 0.4, threshold=0.8) is not None
    # One flagged on its own has its own alert: what follows is not a new pattern each time.
    flagged = RecentMessages(keep=5, window_s=1800, least=0.12, despair=0.5)
    flagged.remember(flagged.seen(ctx(0.0), 0.95, threshold=0.8))
    assert flagged.pattern(ctx(10.0), 0.2, threshold=0.8) is None


def test_context_memory_is_bounded() -> None:
    recent = RecentMessages(keep=3, window_s=100, max_members=50)
    for i in range(500):
        ctx = MessageContext("r", f"m{i}", "member", "...", float(i), POLICY)
        recent.remember(recent.seen(ctx, 0.7))
    assert len(recent) <= 50
    recent.prune(10_000.0)
    assert len(recent) == 0


def test_context_in_the_pipeline_alerts_facilitators_in_words(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    pipeline = pipeline_factory()
    scorer = Scorer(Scanner())
    threshold = scorer.model.thresholds[0]
    texts = [
        "honestly so tired of all of it. nothing changes",
        "i just want it all to be over",
        "thank you all for everything, you were good to me",
    ]
    # Only meaningful when no one message is flagged on its own by the model.
    outcomes = [_run(pipeline, text, now=1000.0 + 60 * i) for i, text in enumerate(texts)]
    rules = [v.rule for o in outcomes for v in o.verdicts]
    assert any(v.priority for o in outcomes for v in o.verdicts), (rules, threshold)
    contextual = [v for o in outcomes for v in o.verdicts if v.rule == "crisis.context"]
    for verdict in contextual:
        assert "read together" in verdict.for_facilitators


def test_the_evaluation_prints_only_aggregates(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from moderation.evaluate import main

    rows = [
        {"text": "i want to die tonight", "concern": "crisis", "family": "explicit_wish"},
        {"text": "call me 07700 900123", "concern": "contact", "identifier": "07700 900123"},
        {"text": "lovely to see you all", "concern": "none", "family": "ordinary"},
    ]
    batch = tmp_path / "fresh-test.jsonl"
    batch.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    assert main([str(batch)]) == 0
    out = capsys.readouterr().out
    assert "crisis recall" in out and "1.000 (1/1)" in out
    assert "i want to die" not in out and "07700" not in out
    with pytest.raises(SystemExit):
        main([str(batch), "--misses"])  # a test batch's misses are never listed
    records = list(parse_jsonl(batch.read_text(encoding="utf-8").splitlines()))
    assert [r.concern for r in records] == ["crisis", "contact", "none"]
    with pytest.raises(ValueError, match="unknown concern"):
        list(parse_jsonl(['{"text": "x", "concern": "spam"}']))


@pytest.mark.parametrize(
    ("text", "identifier"),
    [
        ("add me on fb, Sandra Pikesley, I'm the one in the red hat", "Pikesley"),
        ("I'm Pete Okonkwo-Barnes on linkedin, message me there", "Okonkwo"),
        ("snapchat me, mikey.spasms", "mikey.spasms"),
        ("telegram me, @drainedgran", "drainedgran"),
        ("you'll find me on disc0rd as achey_archie", "achey_archie"),
    ],
)
def test_names_and_handles_in_an_invitation_are_masked(  # type: ignore[no-untyped-def]
    pipeline_factory, text: str, identifier: str
) -> None:
    outcome = _run(pipeline_factory(), text)
    assert identifier not in outcome.text
    assert any(v.alert == "contact" for v in outcome.verdicts)


def test_other_names_later_in_an_invitation_stay(pipeline_factory) -> None:  # type: ignore[no-untyped-def]
    outcome = _run(
        pipeline_factory(), "dm me on insta if you want to chat about Dr Patel, Mary Jones said hi"
    )
    assert "Mary Jones said hi" in outcome.text and "insta" not in outcome.text
