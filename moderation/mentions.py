"""Whether a message's words place a crisis in the past, in someone else, or in a crisis
line: what lowers a listed crisis phrase to a mention (`crisis.mention`: support offered,
facilitators told, no priority alert) when the learned model does not read the sender as
at risk now.

"Five years self-harm free today", "I was suicidal most of 2021, the right meds made a
massive difference", "my teenager said 'I want to die' after an exam" hold the lists'
phrases but are someone looking back, or asking how to help. Three kinds of words count:

- resolved: a time that is over ("three years ago", "at 19", "in 2016", "I'm 52 now",
  "when I first got sick", "used to", "old me") or an outcome ("not anymore", "glad I
  stayed", "still here", "it gets better", "four years clean");
- reported: someone else said it ("she keeps saying", "my student wrote"), a question
  asked by a clinician or a form ("asked if I'd thought about suicide", "questionnaire"),
  fiction or news ("the character in the show"), a figure of speech;
- a resource: the crisis line named ("I called the Samaritans", "988").

Words of the present veto all of it: "tonight", "again", "relapsed", "I'll", "can't",
"an hour ago", "I'm heading back there" — "I tried to kill myself in 2019 and I feel like
I'm heading back there" keeps its priority alert. The lists and the model decide what is
a crisis; this only decides how urgent a listed one reads (docs/moderation.md, "Lowering,
not only raising").
"""

import re

from moderation.alternation import by_first_character

_NUMBER = (
    r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
    r"twenty|thirty|forty|a few|many|several|a|a couple of)"
)
# A count, not "a": "get through a week without wanting to die" is a goal, not a record.
_COUNT = (
    r"(?:\d+|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
    r"thirty|forty|a hundred)"
)
_RESOLVED = (
    rf"{_NUMBER} (?:years?|yrs?|months?) (?:ago|on|later|free|clean|since)|"
    rf"{_COUNT} (?:years?|yrs?|months?|weeks?|days) (?:no|without|free of)|"
    r"once(?! (?:i|i'?m|i'?ve|my|you|the|we|they|he|she|everyone|everybody|it'?s|its|this|that)\b)|"
    r"not now|(?:better|ok|okay|fine|alright|safe|well) now|"
    r"i'?m (?:ok|okay|fine|alright|safe)\b(?!\?)|"
    r"haven'?t \S+ (?:in|since|for)|saved me|come back from|"
    r"(?:19[5-9]\d|20[01]\d|202[0-5])\b|in '\d\d|"
    rf"it'?s been {_NUMBER} (?:years?|yrs?)|"
    rf"(?:free|clean) (?:for |of it |of it for )?(?:over |about |nearly |almost )?"
    rf"{_NUMBER} (?:years?|yrs?|months?)|"
    r"(?:self[- ]?harm|suicide|attempt)[- ]free|"
    r"(?:i'?m|i am|now) (?:\d\d|in my \w+)(?: now)?\b|"
    r"at (?:1[0-9]|2[0-9])\b|in my (?:teens|twenties|thirties|forties|20s|30s|40s)|"
    r"(?:of|in|since|during|was|back in|around) (?:19|20)\d\d|in the (?:\d0s|'\d0s)|"
    r"last (?:year|yr|month|spring|summer|autumn|fall|winter)|"
    r"not anymore|(?:don'?t|do not|doesn'?t) anymore|no longer|not like that now|long gone|"
    r"glad i (?:stayed|'?m still here|didn'?t|woke up|survived)|grateful i|"
    r"(?:i'?m|i am|[.,]) ?still here\b(?! next)|saved my life|my life back|got me through|"
    r"(?:it|things) (?:can|does|do|will) (?:get|gets|got) better|"
    r"it gets (?:better|different|easier)|it can change|(?:doesn'?t|does not) always stay|"
    r"proof (?:it|that)|how far i'?ve come|"
    r"used to|there was a time|old me|those (?:nights|days|thoughts|years)|"
    r"went through a|through it now|made it through|i survived|survivor|"
    r"(?:a|just a) memory|rare now|"
    r"i'?m (?:\w+ )?(?:ok|okay|safe|well|fine|alright|doing (?:ok|okay|alright|well|better)) now|"
    r"(?:feel|i'?m) (?:safer|better) now|i remember (?:thinking|wanting|feeling|writing|when)|"
    r"since i (?:last|stopped)|haven'?t (?:in|since|for)|first (?:year|got|diagnosed)|"
    r"when i (?:was|first)|back (?:then|when|in)|years? back"
)
_REPORTED = (
    r"(?:he|she|they|friend|son|daughter|teen(?:ager)?|patient|student|husband|wife|partner|"
    r"mum|mom|dad|brother|sister|kid|child|character|someone|somebody|nurse|doctor|gp|"
    r"psych\w*) (?:\w+ )?(?:said|says|saying|told|tells|wrote|writes|asked|asks|posted|"
    r"keeps saying|texted|messaged)|"
    r"(?:asked|asks|asking) (?:me )?(?:if|whether|about)|questionnaire|screening|"
    r"(?:he|she|they)'?d been|been talking about|"
    r"(?:in|on) (?:the|a) (?:show|film|movie|book|series|episode|documentary|news|article)|"
    r"character|my (?:\w+ )?neuro\b|"
    r"what'?s the best thing|what do (?:i|you) do (?:if|when)|"
    r"how do (?:i|you) (?:respond|help|support|check)|figure of speech|"
    r"(?:overdosed|od'?d) on (?!\w*(?:pills|tablets|meds|medication|purpose|my|all|the|every|a|\d))"
)
_RESOURCE = (
    r"samaritans|988|116 ?123|hotline|helpline|lifeline|crisis (?:line|text|team)|called the"
)
# Every alternative starts with a letter, a digit, "." or ",", never with whitespace; the
# look-ahead skips the word boundaries before a space (about half of them) without trying
# the alternatives there. At a word's start, the alternatives grouped by first character
# (moderation/alternation.py) cost one test per first character instead of an attempt per
# alternative. Callers ask only whether a match exists, which neither changes
# (tests/unit/test_moderation_pattern_rewrites.py compares both with the plain alternation).
_MENTION_WORDS = rf"{_RESOLVED}|{_REPORTED}|{_RESOURCE}"
_MENTION = re.compile(rf"\b(?=\S){by_first_character(_MENTION_WORDS, depth=2)}")
_PRESENT_WORDS = (
    r"tonight|right now|rn|heading back|back there|again|going to|gonna|about to|"
    r"(?:min(?:ute)?s?|hours?|an hour) ago|goodbye(?! (?:letter|note)s?)|this time|plan to|"
    r"want to die now|today i (?:took|tried)|i will|i'?ll|will take|relapsed?|on purpose|"
    r"not sure i|stick around|why am i|picture myself|all of them|"
    r"now i (?:want|wanna|just want|feel like)|can'?t|cannot|"
    r"don'?t (?:think|know if|want to (?:be|live|go|wake))|still (?:want|wish|think about)|"
    r"i (?:just |really |still )?(?:want|wanna|wish) (?:to )?(?:die|d1e|be dead|end it|kill)"
)
# As _MENTION: no alternative starts with whitespace, and grouped by first character.
_PRESENT = re.compile(rf"\b(?=\S){by_first_character(_PRESENT_WORDS, depth=2)}\b")


# Someone else's words, quoted: "my teenager said 'I want to die'" is not the sender now.
_QUOTED = re.compile(r"[\"\u201c][^\"\u201c\u201d]{2,80}[\"\u201d]|(?<!\w)'[^'\n]{2,60}'(?!\w)")


def reads_as_mention(text: str) -> bool:
    """Words place the crisis in the past, in someone else or in a crisis line, and none
    place it in the present (quoted words are someone else's)."""
    lowered = text.lower().replace("\u2019", "'")
    if _MENTION.search(lowered) is None:
        return False
    return _PRESENT.search(_QUOTED.sub(" ", lowered)) is None
