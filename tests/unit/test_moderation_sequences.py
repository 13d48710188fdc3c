"""The crisis context rule on a writer's sequences of one member's messages in a meeting
(tests/moderation_corpus/train-s1-sequences.jsonl, writer wS): the figures in
docs/moderation.md, replayed through the default pipeline, so that a change which loses
at-risk sequences or brings back false alerts on ordinary ones fails here.

The warning-sign phrases (moderation/warning_signs.py) were written looking at this
file's misses: its figure is in-sample, the lead's held-out sequences say how far it
generalises. About 4 s.
"""

from pathlib import Path

import pytest

from moderation.canonical import decompose, words_view
from moderation.context import MessageContext
from moderation.evaluate import read_records
from moderation.evaluate_sequences import figures, parse
from moderation.pipeline import Pipeline, default_pipeline
from moderation.policy import ModerationPolicy
from moderation.train import training_files
from moderation.warning_signs import (
    AFFAIRS,
    BURDEN,
    DESPAIR,
    GOODBYE,
    MAX_WORDS,
    read_signs,
    signs,
)

SEQUENCES = Path(__file__).parent.parent / "moderation_corpus" / "train-s1-sequences.jsonl"
# Measured 2026-12-07 (docs/moderation.md): at risk 183/200, ordinary 48/300 with model
# 2026-12-07.3; 173/200 and 35/300 (context alone 3/300) with model .4, which alerts on
# fewer single messages either way (seventh session); 173/200 and 30/300 (context alone
# 4/300) with model 2026-12-08.2, 167/200 and 25/300 (3/300) with .3: despair alone kept
# from priority, 5 runs averaged (ninth session).
AT_RISK_AT_LEAST = 0.865 - 0.03
ORDINARY_AT_MOST = 0.10 + 0.03
CONTEXT_ALONE_ORDINARY_AT_MOST = 0.01 + 0.01


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return default_pipeline()


def rate(result: dict[str, object], name: str) -> float:
    value = result[name]
    assert isinstance(value, dict)
    return float(value["value"])


def test_the_writers_sequences_keep_their_figures(pipeline: Pipeline) -> None:
    sequences = parse(SEQUENCES)
    assert len(sequences) == 500
    result = figures(sequences, pipeline)
    assert rate(result, "at-risk sequences given a priority crisis alert") >= AT_RISK_AT_LEAST
    assert rate(result, "ordinary sequences given a priority crisis alert") <= ORDINARY_AT_MOST
    assert rate(result, "  of which from the context rule alone") <= CONTEXT_ALONE_ORDINARY_AT_MOST


def post(pipeline: Pipeline, text: str, minute: float, sender: str) -> list[str]:
    ctx = MessageContext("room", sender, "member", text, 1000.0 + 60 * minute, ModerationPolicy())
    outcome = pipeline.run(ctx)
    pipeline.accept(outcome)
    return [v.alert_reason for v in outcome.verdicts if v.alert == "crisis" and v.priority]


def test_letters_written_then_a_goodbye_alert_and_say_why(pipeline: Pipeline) -> None:
    # Each ordinary alone, from a member who said nothing else ...
    assert post(pipeline, "wrote a letter for each of the kids this afternoon", 0, "a") == []
    assert post(pipeline, "ta-ra everyone, look after yourselves", 0, "b") == []
    # ... together, the facilitators are told why in words.
    assert post(pipeline, "wrote a letter for each of the kids this afternoon", 0, "c") == []
    (why,) = post(pipeline, "ta-ra everyone, look after yourselves", 9, "c")
    assert "affairs put in order or things given away earlier" in why
    assert "now words that can mean a goodbye" in why
    assert "check in" in why


def test_a_goodbye_naming_the_next_meeting_is_no_sign() -> None:
    assert signs("take care of each other ok") == GOODBYE
    assert signs("take care of each other, see you all next Thursday") == 0
    assert signs("Goodbye all, see ye Thursday") == 0


def test_a_sign_told_as_over_is_none_now() -> None:
    assert signs("wrote notes for everyone who matters") == AFFAIRS
    assert signs("this time last year I was writing goodbye letters to everyone") == 0
    assert signs("I used to think they'd be better off without me") == 0
    assert signs("feel like such a burden on everyone") == BURDEN
    assert signs("nothing works. nothing ever has") == DESPAIR


def test_the_key_word_short_cut_skips_no_sign_in_the_training_messages() -> None:
    texts = [message for sequence in parse(SEQUENCES) for message in sequence.messages] + [
        record.text for path in training_files() for record in read_records(path)
    ]
    lines = [text for text in texts if len(words_view(decompose(text)).split()) <= MAX_WORDS]
    assert len(lines) > 10_000
    skipped = [text for text in lines if signs(text) != read_signs(text.lower())]
    assert skipped == []


@pytest.mark.parametrize(
    "goodbye",
    [
        "Goodbye all, see ye Thursday",
        "goodbye for now",
        "Goodbye all, until next time",
        "Goodbye and see you next time",
        "Bye bye, see ye next week",
    ],
)
def test_a_goodbye_naming_the_next_meeting_raises_no_crisis_alert(
    pipeline: Pipeline, goodbye: str
) -> None:
    assert post(pipeline, goodbye, 0, "leaving-for-now") == []
    # After despair, too: someone who says when they will be back is not saying goodbye.
    assert post(pipeline, "honestly nothing works. nothing ever has", 0, "low") == []
    assert post(pipeline, goodbye, 5, "low") == []


@pytest.mark.parametrize(
    "goodbye",
    ["I won't see you next week. Goodbye all", "goodbye all, last time you'll see me"],
)
def test_a_goodbye_turned_round_still_alerts_after_despair(
    pipeline: Pipeline, goodbye: str
) -> None:
    assert post(pipeline, "honestly nothing works. nothing ever has", 0, "gone") == []
    assert len(post(pipeline, goodbye, 5, "gone")) == 1


def test_signs_are_read_in_chat_lines_not_long_posts() -> None:
    line = "wrote a letter for each of the kids this afternoon"
    assert signs(line) == AFFAIRS
    story = line + ", and then " + " ".join(["we talked about the garden"] * 5)
    assert signs(story) == 0
